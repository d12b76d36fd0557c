"""The study list and the first wizard step (creating a study): roles, empty states, bad input."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from datasets.models import Study
from tests.datasets_pages.conftest import COGNITIVE, unique_slug

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_is_sent_to_sign_in(host) -> None:
    response = Client(HTTP_HOST=host).get("/studies/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/studies/")


def test_non_member_gets_403_on_every_study_page(tenant_a, tenant_b, make_member, make_study, host) -> None:
    study = make_study(measures={"cognitive": COGNITIVE})
    outsider = make_member(tenant_b, "owner")
    client = Client(HTTP_HOST=host)
    assert client.login(email=outsider.email, password="correct-horse-battery-9")
    for path in (
        "/studies/",
        "/studies/new/",
        f"/studies/{study.slug}/",
        f"/studies/{study.slug}/upload/",
        f"/studies/{study.slug}/history/",
        f"/studies/{study.slug}/datasets/cognitive/",
        f"/studies/{study.slug}/datasets/cognitive/dictionary.csv",
    ):
        response = client.get(path)
        assert response.status_code == 403, path
        assert b"not a member of this workspace" in response.content
        assert study.name.encode() not in response.content


def test_empty_list_points_stewards_to_the_wizard_and_tells_others_who_can(browser) -> None:
    steward = browser("steward").get("/studies/")
    assert steward.status_code == 200
    html = steward.content.decode()
    assert "No studies yet" in html  # lab A holds no committed studies: each test's data is rolled back
    assert 'href="/studies/new/"' in html and "Set up a study" in html
    viewer = browser("viewer").get("/studies/")
    assert viewer.status_code == 200
    assert "No studies yet" in viewer.content.decode()
    assert 'href="/studies/new/"' not in viewer.content.decode()
    assert "A data steward or owner of this workspace sets up studies" in viewer.content.decode()


def test_list_shows_mode_datasets_participants_and_setup_state(browser, make_study) -> None:
    complete = make_study(
        name="Memory Study", description="Working memory across visits.", measures={"cognitive": COGNITIVE}
    )
    unset = make_study(name="Fresh Study", keys={})
    html = browser("analyst").get("/studies/").content.decode()
    card = html[html.index("Memory Study") :]
    card = card[: card.index("</li>")]
    assert "Longitudinal" in card
    assert "Working memory across visits." in card
    assert re.search(r"<dt>Datasets</dt><dd>2</dd>", card)
    assert re.search(r"<dt>Participants</dt><dd>4</dd>", card)
    fresh = html[html.index("Fresh Study") :]
    assert "Setup incomplete" in fresh[: fresh.index("</li>")]
    assert f'href="/studies/{complete.slug}/"' in html and f'href="/studies/{unset.slug}/"' in html
    # Analysts see no "New study" button.
    assert 'href="/studies/new/"' not in html


def test_steward_names_a_study_and_lands_on_the_demographics_step_with_nothing_created(browser, tenant_a) -> None:
    client = browser("steward")
    page = client.get("/studies/new/")
    assert page.status_code == 200
    assert b"Create the study" in page.content and b'enctype="multipart/form-data"' in page.content
    slug = unique_slug("sleep")
    response = client.post(
        "/studies/new/", {"name": "Sleep Study", "slug": slug, "description": "Nightly sleep.", "engine": "duckdb"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/studies/new/setup/"
    with tenant_context(tenant_a):  # the study is created with its demographics table, not before
        assert not Study.objects.filter(slug=slug).exists()
        assert not AuditEvent.objects.filter(action="study.created").exists()
    setup = client.get(response["Location"]).content.decode()
    assert "Upload the demographics table" in setup
    assert "Sleep Study" in setup and f"<code>{slug}</code>" in setup and "not created yet" in setup


def test_slug_is_suggested_from_the_name_when_left_blank(browser, tenant_a) -> None:
    client = browser("owner")
    name = f"Études Longitudinales {unique_slug('x')}"
    response = client.post("/studies/new/", {"name": name, "slug": "", "engine": "duckdb"})
    assert response.status_code == 302
    setup = client.get(response["Location"]).content.decode()
    assert "<code>etudes-longitudinales-x-" in setup
    suggestion = client.get("/studies/new/slug/", {"name": "  2024 Sleep & Memory!  "})
    assert suggestion.content.decode() == "sleep-memory"


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("Bad Slug", "lower-case letters, digits or hyphens"),
        ("9lives", "lower-case letters, digits or hyphens"),
        ("new", "reserved"),
        ("a" * 64, "at most 63 characters"),
    ],
)
def test_bad_slug_is_a_form_error(browser, slug, message) -> None:
    response = browser("steward").post("/studies/new/", {"name": "X", "slug": slug, "engine": "duckdb"})
    assert response.status_code == 422
    assert message in response.content.decode()


def test_missing_name_duplicate_slug_and_unknown_engine_are_form_errors(browser, make_study) -> None:
    client = browser("steward")
    existing = make_study(keys={})
    no_name = client.post("/studies/new/", {"name": "   ", "slug": unique_slug(), "engine": "duckdb"})
    assert no_name.status_code == 422 and b"This field is required" in no_name.content
    duplicate = client.post("/studies/new/", {"name": "Again", "slug": existing.slug, "engine": "duckdb"})
    assert duplicate.status_code == 422
    assert f"A study &#x27;{existing.slug}&#x27; already exists".encode() in duplicate.content
    engine = client.post("/studies/new/", {"name": "X", "slug": unique_slug(), "engine": "oracle"})
    assert engine.status_code == 422 and b"Select a valid choice" in engine.content


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_viewers_and_analysts_cannot_create_studies_and_are_told_why(browser, role, tenant_a) -> None:
    client = browser(role)
    page = client.get("/studies/new/")
    assert page.status_code == 403
    assert f"Your role ({role}) may not create studies; it needs steward or above.".encode() in page.content
    slug = unique_slug()
    post = client.post("/studies/new/", {"name": "Sneaky", "slug": slug, "engine": "duckdb"})
    assert post.status_code == 403
    with tenant_context(tenant_a):
        assert not Study.objects.filter(slug=slug).exists()


def test_unknown_study_is_404_on_every_page(browser) -> None:
    client = browser("owner")
    for path in (
        "/studies/nope-nope/",
        "/studies/nope-nope/setup/",
        "/studies/nope-nope/upload/",
        "/studies/nope-nope/history/",
        "/studies/nope-nope/datasets/cognitive/",
        "/studies/nope-nope/datasets/cognitive/dictionary.csv",
        "/studies/nope-nope/ingests/1/",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"Not found" in response.content
