"""BDT query-parameter files (TOML) against BDT-shaped studies: imported into the builder with every filter kept
(BDT's range filters lost their bounds on import: fixed), counted and run as BDT's semantics say, exported, and
imported again to the same query."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.bdt_compat.oracle import FIXTURES, Layout, normalized

pytestmark = pytest.mark.django_db

QUERIES = FIXTURES / "queries"
EXPECTED: dict[str, dict[str, Any]] = {
    "cross_sectional": {"age": (18.0, 80.0), "ranges": [("cognitive", "processing_speed", 90.0, 105.5)]},
    "longitudinal": {
        "age": (18.0, 80.0),
        "sessions": ["BAS1"],
        "ranges": [("cognitive", "attention_score", 0.8, 0.95)],
    },
    "rockland": {"age": (18.0, 80.0), "sites": ["Discovery"], "ranges": [("flanker", "accuracy", 0.9, 0.95)]},
}
PICKS = {
    "cross_sectional": {"cognitive": ["processing_speed", "attention_score"]},
    "longitudinal": {"cognitive": ["working_memory", "attention_score"]},
    "rockland": {"flanker": ["accuracy"]},  # customID is a key: skipped with a note
}


def _toml(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/toml")


@pytest.mark.parametrize("layout", sorted(EXPECTED))
def test_bdt_query_file_round_trips_with_bdt_semantics(import_bdt, steward, steward_page, execute, layout: str) -> None:
    data = Layout(layout)
    keys = {"site_column": "all_studies"} if layout == "rockland" else {}
    slug = import_bdt("api", data.folder, keys=keys).slug
    original = (QUERIES / f"{layout}.toml").read_bytes()
    imported = steward_page.post(f"/queries/{slug}/import/", {"file": _toml("query_parameters.toml", original)})
    assert imported.status_code == 302, imported.content.decode()[:2000]
    page = steward_page.get(f"/queries/{slug}/").content.decode()
    assert "Imported the query" in page
    if layout == "rockland":
        assert "Key column flanker.customID is always included; skipped." in page
        assert "is disabled in the file and was skipped" in page
    spec = json.loads(steward_page.get(f"/queries/{slug}/export.json").content)
    assert spec["columns"] == PICKS[layout]

    counted = steward.post(f"/api/v1/studies/{slug}/count", spec).json()
    expected = data.count(**EXPECTED[layout])
    assert (counted["participants"], counted["rows"]) == expected
    without_range = {k: v for k, v in EXPECTED[layout].items() if k != "ranges"}
    assert expected != data.count(**without_range), "the fixture must show BDT's lost-range BUG"

    run = steward.post(f"/api/v1/studies/{slug}/queries", spec)
    assert run.status_code == 202, run.content
    assert execute(run.json()["id"]) == "succeeded"
    rows = steward.get(f"/api/v1/queries/{run.json()['id']}/rows?page_size=1000").json()
    columns, expected_rows = data.output(PICKS[layout], **EXPECTED[layout])
    assert rows["columns"] == columns and normalized(rows["items"]) == expected_rows

    exported = steward_page.get(f"/queries/{slug}/export.toml")
    written = tomllib.loads(exported.content.decode())
    source = tomllib.loads(original.decode())
    assert written["metadata"]["format_version"] == "1.0" and written["metadata"]["app_version"] == "1.0.0"
    assert written["cohort_filters"] == source["cohort_filters"]
    enabled = [f for f in source["phenotypic_filters"] if f["enabled"]]
    assert [(f["table"], f["column"], f["min_val"], f["max_val"]) for f in written["phenotypic_filters"]] == [
        (f["table"], f["column"], f["min_val"], f["max_val"]) for f in enabled
    ]
    assert written["export_selection"]["selected_columns"] == PICKS[layout]

    steward_page.post(f"/queries/{slug}/reset/")
    again = steward_page.post(f"/queries/{slug}/import/", {"file": _toml("again.toml", exported.content)})
    assert again.status_code == 302
    assert json.loads(steward_page.get(f"/queries/{slug}/export.json").content) == spec


def test_a_query_file_naming_what_the_study_lacks_imports_nothing(import_bdt, steward_page) -> None:
    """BDT dropped unknown tables silently; here nothing is imported and the page says why."""
    slug = import_bdt("api", FIXTURES / "cross_sectional").slug
    text = (QUERIES / "longitudinal.toml").read_text()  # sessions on a cross-sectional study
    response = steward_page.post(f"/queries/{slug}/import/", {"file": _toml("q.toml", text.encode())})
    html = response.content.decode()
    assert response.status_code == 422 and "Nothing was imported." in html
    assert "sessions are set, but this study is cross-sectional" in html
