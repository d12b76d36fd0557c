"""An approved access request leaves the researcher able to work: the request form includes the demographics table
(every query starts from it), the steward is warned and fixes a request without it in one click, and the builder
says exactly which dataset lacks which level."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role
from tests.e2e.conftest import E2ETenant, Site

pytestmark = [pytest.mark.e2e]

COUNT_TENANT = ("lab-e2e-count", "Lab E2E Count", "lab-e2e-count.localhost")
DEMOGRAPHICS = "participant_id,age\n" + "".join(f"P{i:03d},{20 + i}\n" for i in range(1, 31))
MOOD = "participant_id,phq9_total\n" + "".join(f"P{i:03d},{i % 20}\n" for i in range(1, 31))


@pytest.fixture(scope="module")
def count_tenant(django_db_setup: None, django_db_blocker: Any) -> E2ETenant:
    """A workspace whose analysts count by default (committed, created once)."""
    from django.db import connection

    from tenants.models import Tenant
    from tenants.services import tenant_create

    with django_db_blocker.unblock():
        slug, name, domain = COUNT_TENANT
        tenant_create(slug=slug, name=name, domain=domain)
        Tenant.objects.filter(slug=slug).update(settings={"analyst_default_level": "count"})
        connection.set_schema_to_public()
    return E2ETenant(*COUNT_TENANT)


def _seed(committed_db: Callable[..., Any], tenant: E2ETenant, tmp_path: Path) -> str:
    from django_tenants.utils import tenant_context

    from datasets.services import ingest_file_sync, study_create

    slug = f"mood-{uuid.uuid4().hex[:6]}"
    with committed_db(), tenant_context(tenant.obj()):
        study = study_create(tenant=tenant.obj(), actor=None, slug=slug, name=slug.title(), id_column="participant_id")
        for dataset, text in (("demographics", DEMOGRAPHICS), ("mood", MOOD)):
            path = tmp_path / f"{dataset}.csv"
            path.write_text(text, encoding="utf-8")
            kind = "demographics" if dataset == "demographics" else "measure"
            assert ingest_file_sync(study=study, path=path, dataset_name=dataset, kind=kind).version
    return slug


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[[], Any]]:
    """``new_page()`` -> a page in a fresh 1440 px context (closed after the test)."""
    contexts: list[Any] = []

    def _new() -> Any:
        contexts.append(browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US"))
        return contexts[-1].new_page()

    yield _new
    for ctx in contexts:
        ctx.close()


def _people(
    new_page: Callable[[], Any], site: Site, make_user: Callable[..., Any], tenant: E2ETenant
) -> tuple[Any, Any, Any]:
    researcher = make_user((tenant, Role.ANALYST), prefix="researcher")
    steward = make_user((tenant, Role.STEWARD), prefix="steward")
    r_page, s_page = new_page(), new_page()
    site.sign_in(r_page, researcher.email, researcher.password)
    site.sign_in(s_page, steward.email, steward.password)
    return researcher, r_page, s_page


def _request_mood(page: Any, site: Site, slug: str, *, include_demographics: bool) -> int:
    page.goto(site.url(f"/studies/{slug}/"))
    page.locator("tr", has_text="mood").get_by_role("link", name="Request access").click()
    expect(page.locator("input[name=datasets][value=mood]")).to_be_checked()
    include = page.get_by_label(re.compile("Also ask for the demographics table"))
    expect(include).to_be_checked()  # on by default
    if not include_demographics:
        include.uncheck()
    page.get_by_label("Access level").select_option("export")
    page.get_by_label("Purpose").fill("Mood over time.")
    page.get_by_role("button", name="Send request").click()
    expect(page).to_have_url(site.url("/access/requests/"))
    return int(page.locator("article.request").first.get_attribute("data-request") or 0)


def test_request_form_includes_demographics(
    new_page, e2e_live_server, count_tenant, make_user, committed_db, screenshot, tmp_path: Path
) -> None:
    site = Site(e2e_live_server, count_tenant.domain)
    slug = _seed(committed_db, count_tenant, tmp_path)
    _, page, console = _people(new_page, site, make_user, count_tenant)

    # Count-level: the builder says which dataset lacks which level, and offers the request in one click.
    page.goto(site.url(f"/queries/{slug}/"))
    needs = page.locator("[data-run-needs]")
    expect(needs).to_contain_text("query level on demographics")
    expect(needs).to_contain_text("you have count there")
    expect(page.get_by_role("button", name="Run query")).to_have_count(0)

    request_id = _request_mood(page, site, slug, include_demographics=True)
    item = page.locator(f"article[data-request='{request_id}']")
    expect(item).to_contain_text("demographics")
    expect(item).to_contain_text("mood")
    expect(item.locator("[data-demographics-gap]")).to_have_count(0)

    console.goto(site.url("/console/requests/"))
    pending = console.locator(f"article[data-request='{request_id}']")
    expect(pending.locator("[data-demographics-gap]")).to_have_count(0)
    pending.get_by_role("button", name="Approve", exact=True).click()
    expect(console.locator(".alert--success")).to_contain_text(f"Request #{request_id} approved.")

    page.goto(site.url(f"/queries/{slug}/"))
    expect(page.get_by_role("button", name="Run query")).to_be_visible()
    expect(page.locator("[data-run-needs]")).to_have_count(0)
    screenshot(page, "builder-usable")


def test_steward_is_warned_and_fixes_in_one_click(
    new_page, e2e_live_server, count_tenant, make_user, committed_db, screenshot, tmp_path: Path
) -> None:
    site = Site(e2e_live_server, count_tenant.domain)
    slug = _seed(committed_db, count_tenant, tmp_path)
    researcher, page, console = _people(new_page, site, make_user, count_tenant)

    request_id = _request_mood(page, site, slug, include_demographics=False)
    mine = page.locator(f"article[data-request='{request_id}'] [data-demographics-gap]")
    expect(mine).to_contain_text("where you have count and need export")

    # The steward sees the problem before deciding; approving as asked reproduces the stranded researcher.
    console.goto(site.url("/console/requests/"))
    pending = console.locator(f"article[data-request='{request_id}']")
    expect(pending.locator("[data-demographics-gap]")).to_contain_text("leaves them unable to use it")
    screenshot(console, "1-warned")
    pending.get_by_role("button", name="Approve without it").click()
    expect(console.locator(".alert--success")).to_contain_text(f"Request #{request_id} approved.")

    # The builder says exactly what is missing, and where.
    page.goto(site.url(f"/queries/{slug}/"))
    needs = page.locator("[data-run-needs]")
    expect(needs).to_contain_text("query level on demographics")
    expect(needs).to_contain_text("you have count there")
    expect(needs).to_contain_text("Your export on mood becomes usable once you have it.")
    expect(page.get_by_role("link", name="Request export on demographics")).to_be_visible()
    screenshot(page, "2-builder-stranded")

    # The approved request still warns on both sides; the steward grants the missing level in one click.
    console.goto(site.url("/console/requests/?status=approved"))
    approved = console.locator(f"article[data-request='{request_id}']")
    expect(approved.locator("[data-demographics-gap]")).to_contain_text("Not usable yet")
    approved.get_by_role("button", name="Grant export on demographics").click()
    expect(console.locator(".alert--success")).to_contain_text("Access granted.")
    expect(console.locator(f"article[data-request='{request_id}'] [data-demographics-gap]")).to_have_count(0)

    page.goto(site.url(f"/queries/{slug}/"))
    expect(page.get_by_role("button", name="Run query")).to_be_visible()
    page.goto(site.url("/access/requests/"))
    expect(page.locator(f"article[data-request='{request_id}'] [data-demographics-gap]")).to_have_count(0)
    assert researcher.email


def test_approve_and_include_demographics(
    new_page, e2e_live_server, count_tenant, make_user, committed_db, tmp_path: Path
) -> None:
    site = Site(e2e_live_server, count_tenant.domain)
    slug = _seed(committed_db, count_tenant, tmp_path)
    _, page, console = _people(new_page, site, make_user, count_tenant)
    request_id = _request_mood(page, site, slug, include_demographics=False)

    # The researcher's one-click fix from their requests page prefills the form.
    page.get_by_role("link", name="Request export on demographics").click()
    expect(page.locator("input[name=datasets][value=demographics]")).to_be_checked()
    expect(page.get_by_label("Access level")).to_have_value("export")

    console.goto(site.url("/console/requests/"))
    pending = console.locator(f"article[data-request='{request_id}']")
    pending.get_by_role("button", name="Approve and include demographics").click()
    expect(console.locator(".alert--success")).to_contain_text(f"Request #{request_id} approved.")
    expect(console.locator(f"article[data-request='{request_id}']")).to_have_count(0)  # left the pending queue

    page.goto(site.url(f"/queries/{slug}/"))
    expect(page.get_by_role("button", name="Run query")).to_be_visible()
    page.goto(site.url("/notifications/"))
    expect(page.locator(".notification").first).to_contain_text("demographics table demographics was included")
