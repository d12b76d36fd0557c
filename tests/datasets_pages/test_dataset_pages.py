"""The catalog, dataset pages (dictionary, column metadata, versions with diffs) and the study history."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from datasets.models import Dataset
from datasets.services import study_update
from tests.datasets_pages.conftest import COGNITIVE, COGNITIVE_V2

pytestmark = pytest.mark.django_db


def _row(html: str, column: str) -> str:
    match = re.search(rf'<tr data-column="{re.escape(column)}".*?</tr>', html, re.S)
    assert match, column
    return match.group(0)


def test_catalog_shows_keys_demographics_datasets_and_recent_ingests(browser, make_study) -> None:
    study = make_study(description="Two visits.", measures={"cognitive": COGNITIVE})
    exact = browser("steward").get(f"/studies/{study.slug}/").content.decode()
    demographics = _dataset_row(exact, "demographics")
    assert ">v1<" in demographics and ">6<" in demographics and ">4<" in demographics  # rows, participants
    cognitive = _dataset_row(exact, "cognitive")
    assert ">4<" in cognitive and ">3<" in cognitive and ">2<" in cognitive  # rows, participants, sessions
    response = browser("viewer").get(f"/studies/{study.slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Longitudinal — session column <code>session</code>" in html
    assert "<code>participant_id</code>" in html and "<code>site</code>" in html
    demographics = _dataset_row(html, "demographics")  # 4 participants < k: no size shown below query
    assert ">v1<" in demographics and ">6<" not in demographics and ">4<" not in demographics
    cognitive = _dataset_row(html, "cognitive")
    assert ">3<" not in cognitive and "—" in cognitive
    assert f'href="/studies/{study.slug}/datasets/cognitive/"' in cognitive
    assert "Recent uploads" in html and "Done" in html and "6 rows" not in html
    assert f'href="/studies/{study.slug}/history/"' in html
    assert "Upload data" not in html  # viewers do not get the button


def _dataset_row(html: str, name: str) -> str:
    match = re.search(rf'<tr data-dataset="{name}">.*?</tr>', html, re.S)
    assert match, name
    return match.group(0)


def test_cross_sectional_catalog(browser, make_study) -> None:
    study = make_study(
        keys={"id_column": "participant_id"},
        demographics="participant_id,age\nA1,30\nA2,40\n",
    )
    html = browser("viewer").get(f"/studies/{study.slug}/").content.decode()
    assert "Cross-sectional — rows are matched on the ID" in html


def test_dataset_page_shows_the_dictionary_with_statistics(browser, make_study) -> None:
    study = make_study(measures={"cognitive": COGNITIVE})
    response = browser("analyst").get(f"/studies/{study.slug}/datasets/cognitive/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Data dictionary" in html
    memory = _row(html, "working_memory")
    assert "integer" in memory
    assert '<svg class="sparkline"' in memory  # a histogram sparkline for a numeric column
    assert ">95<" in memory and ">110<" in memory and ">102.5<" in memory  # min, max, mean
    notes = _row(html, "notes")
    assert "string" in notes
    assert "1" in notes and "25%" in notes  # one missing of four
    assert "top-values" in notes and "ok" in notes  # top values for a categorical column
    key = _row(html, "participant_id")
    assert ">ID<" in key
    assert "P001" not in key and "hidden" in key  # no participant ids on a metadata page
    assert f'href="/studies/{study.slug}/datasets/cognitive/dictionary.csv?version=1"' in html
    assert "Edit" not in memory  # analysts cannot edit descriptions


def test_dictionary_csv_download(browser, make_study) -> None:
    study = make_study(measures={"cognitive": COGNITIVE})
    response = browser("viewer").get(f"/studies/{study.slug}/datasets/cognitive/dictionary.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="cognitive_v1_dictionary.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["column"] for row in rows] == [
        "participant_id",
        "session",
        "working_memory",
        "processing_speed",
        "notes",
    ]


def test_bad_version_and_unknown_dataset_are_404(browser, make_study) -> None:
    study = make_study(measures={"cognitive": COGNITIVE})
    client = browser("viewer")
    base = f"/studies/{study.slug}/datasets"
    assert client.get(f"{base}/cognitive/?version=1").status_code == 200
    for path in (
        f"{base}/cognitive/?version=7",
        f"{base}/cognitive/?version=abc",
        f"{base}/cognitive/?version=-1",
        f"{base}/mood/",
        f"{base}/cognitive/dictionary.csv?version=2",
        f"{base}/Cognitive/",
    ):
        assert client.get(path).status_code == 404, path


def test_new_version_shows_its_diff_and_older_versions_stay_readable(browser, make_study, ingest) -> None:
    study = make_study(measures={"cognitive": COGNITIVE})
    ingest(study, "cognitive", COGNITIVE_V2, note="added attention")
    viewer = browser("viewer").get(f"/studies/{study.slug}/datasets/cognitive/").content.decode()
    assert "(+2)" not in viewer  # exact row changes are counts: not below query
    client = browser("steward")
    html = client.get(f"/studies/{study.slug}/datasets/cognitive/").content.decode()
    assert "Version history" in html
    latest = re.search(r'<tr class="is-selected" data-version="2">.*?</tr>', html, re.S).group(0)
    assert "added attention" in latest
    diff = latest[latest.index("data-diff") :]
    assert "added" in diff and "<code>attention</code>" in diff
    assert "removed" in diff and "<code>notes</code>" in diff
    assert "(+2)" in diff  # 4 -> 6 rows
    first = re.search(r'<tr data-version="1">.*?</tr>', html, re.S).group(0)
    assert "First version" in first
    old = client.get(f"/studies/{study.slug}/datasets/cognitive/?version=1").content.decode()
    assert "Older version" in old and 'data-column="notes"' in old and 'data-column="attention"' not in old


def test_steward_edits_a_column_description_and_sensitivity(browser, make_study, tenant_a) -> None:
    study = make_study(measures={"cognitive": COGNITIVE})
    client = browser("steward")
    url = f"/studies/{study.slug}/datasets/cognitive/column/"
    page = client.get(f"/studies/{study.slug}/datasets/cognitive/").content.decode()
    assert "Edit description and sensitivity of notes" in page
    form = client.get(url, {"column": "notes", "edit": "1"}, HTTP_HX_REQUEST="true")
    assert form.status_code == 200 and b'<textarea name="description"' in form.content
    saved = client.post(
        url,
        {"column": "notes", "description": "Free-text remarks by the examiner.", "sensitivity": "sensitive"},
        HTTP_HX_REQUEST="true",
    )
    assert saved.status_code == 200
    html = saved.content.decode()
    assert "Free-text remarks by the examiner." in html and "Sensitive" in html and "Saved" in html
    with tenant_context(tenant_a):
        dataset = Dataset.objects.get(study=study, name="cognitive")
        assert dataset.column_meta["notes"] == {
            "description": "Free-text remarks by the examiner.",
            "sensitivity": "sensitive",
        }
        event = AuditEvent.objects.filter(action="dataset.column_meta_updated").latest("id")
        assert event.details["column"] == "notes" and event.details["to"]["sensitivity"] == "sensitive"
        assert event.actor_email == client.user.email
    # A column tagged identifying shows no example values.
    tagged = client.post(
        url, {"column": "notes", "description": "", "sensitivity": "identifying"}, HTTP_HX_REQUEST="true"
    )
    assert "Identifying" in tagged.content.decode() and ">ok<" not in tagged.content.decode()
    # Clearing both removes the entry.
    client.post(url, {"column": "notes", "description": "", "sensitivity": ""}, HTTP_HX_REQUEST="true")
    with tenant_context(tenant_a):
        assert "notes" not in Dataset.objects.get(pk=dataset.pk).column_meta


def test_column_metadata_errors(browser, make_study, tenant_a) -> None:
    study = make_study(measures={"cognitive": COGNITIVE})
    url = f"/studies/{study.slug}/datasets/cognitive/column/"
    steward = browser("steward")
    bad_tag = steward.post(url, {"column": "notes", "sensitivity": "secret"}, HTTP_HX_REQUEST="true")
    assert bad_tag.status_code == 422 and b"Select a valid choice" in bad_tag.content
    too_long = steward.post(url, {"column": "notes", "description": "x" * 2001}, HTTP_HX_REQUEST="true")
    assert too_long.status_code == 422 and b"at most 2000 characters" in too_long.content
    unknown = steward.post(url, {"column": "nope", "description": "x"}, HTTP_HX_REQUEST="true")
    assert unknown.status_code == 404
    viewer = browser("viewer")
    denied = viewer.post(url, {"column": "notes", "description": "mine now"}, HTTP_HX_REQUEST="true")
    assert denied.status_code == 403 and b"may not edit column descriptions" in denied.content
    assert viewer.get(url, {"column": "notes", "edit": "1"}, HTTP_HX_REQUEST="true").status_code == 403
    assert viewer.get(url, {"column": "notes"}, HTTP_HX_REQUEST="true").status_code == 200
    with tenant_context(tenant_a):
        assert Dataset.objects.get(study=study, name="cognitive").column_meta == {}


def test_history_shows_readable_field_changes(browser, make_study, tenant_a, ingest) -> None:
    study = make_study(measures={"cognitive": COGNITIVE})
    steward = browser("steward")
    steward.post(
        f"/studies/{study.slug}/datasets/cognitive/column/",
        {"column": "working_memory", "description": "Digit span total", "sensitivity": ""},
    )
    with tenant_context(tenant_a):
        study_update(tenant=tenant_a, actor=None, study=study, age_column="", description="Now with a description.")
    ingest(study, "cognitive", COGNITIVE_V2)
    response = browser("viewer").get(f"/studies/{study.slug}/history/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Digit span total" in html and "Working_memory · description" in html
    assert "Age column" in html and '<del class="change-old">age</del>' in html
    assert "Now with a description." in html
    assert "cognitive v2" in html and "cognitive v1" in html and "demographics v1" in html
    assert f"by {steward.user.email}" in html
    assert html.index("cognitive v2") < html.index("cognitive v1")  # newest first
