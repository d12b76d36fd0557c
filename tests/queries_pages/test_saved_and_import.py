"""Saved queries (save, list, load, delete, share) and import/export of query parameters through the pages."""

from __future__ import annotations

import json
import tomllib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.queries_pages.conftest import HX

pytestmark = pytest.mark.django_db

FORM = {
    "_builder": "1",
    "age_lo": "25.5",
    "age_hi": "40.25",
    "f-0-dataset": "flanker",
    "f-0-column": "accuracy",
    "f-0-op": "between",
    "f-0-lo": "0.55",
    "f-0-hi": "0.905",
    "out": "cognitive",
    "cols-cognitive": "working_memory",
}


def test_save_list_load_delete(analyst, browser, study_ro) -> None:
    saved = analyst.post("/queries/memory/saved/", {**FORM, "name": "Young and accurate"}, **HX)
    assert saved.status_code == 200 and "Saved “Young and accurate”." in saved.content.decode()
    assert 'data-saved="Young and accurate"' in saved.content.decode()
    updated = analyst.post(
        "/queries/memory/saved/", {**FORM, "age_lo": "30", "name": "Young and accurate", "shared": "on"}, **HX
    )
    assert "Updated “Young and accurate”." in updated.content.decode()
    assert updated.content.decode().count("data-saved=") == 1 and "shared</span>" in updated.content.decode()
    nameless = analyst.post("/queries/memory/saved/", {**FORM, "name": " "}, **HX)
    assert nameless.status_code == 422 and "1-200 characters" in nameless.content.decode()

    analyst.post("/queries/memory/reset/")
    page = analyst.get("/queries/memory/").content.decode()
    assert 'name="age_lo" value=""' in page and "Young and accurate" in page
    saved_id = int(page.split('action="/queries/saved/')[1].split("/")[0])
    loaded = analyst.post(f"/queries/saved/{saved_id}/load/")
    assert loaded.status_code == 302
    page = analyst.get("/queries/memory/").content.decode()
    assert 'value="30"' in page and 'value="40.25"' in page and 'value="0.905"' in page
    assert "Loaded “Young and accurate” into the builder." in page

    colleague = browser("analyst")  # shared: visible and loadable, not deletable
    assert "Young and accurate" in colleague.get("/queries/memory/").content.decode()
    assert colleague.post(f"/queries/saved/{saved_id}/load/").status_code == 302
    assert colleague.post(f"/queries/saved/{saved_id}/delete/", **HX).status_code == 404
    deleted = analyst.post(f"/queries/saved/{saved_id}/delete/", **HX)
    assert deleted.status_code == 200 and "Deleted “Young and accurate”." in deleted.content.decode()
    assert "No saved queries" in deleted.content.decode()


def test_private_queries_and_drafts_stay_private(analyst, browser, study_ro) -> None:
    analyst.post("/queries/memory/saved/", {**FORM, "name": "Mine only"}, **HX)
    other = browser("analyst")
    assert "Mine only" not in other.get("/queries/memory/").content.decode()
    page = analyst.get("/queries/memory/").content.decode()
    saved_id = int(page.split('action="/queries/saved/')[1].split("/")[0])
    assert other.post(f"/queries/saved/{saved_id}/load/").status_code == 404


def test_toml_export_import_round_trip_keeps_ranges(analyst, study_ro) -> None:
    analyst.post("/queries/memory/state/", FORM, **HX)
    exported = analyst.get("/queries/memory/export.toml")
    assert exported.status_code == 200 and "query_parameters_" in exported["Content-Disposition"]
    data = tomllib.loads(exported.content.decode())
    assert data["cohort_filters"]["age_range"] == [25.5, 40.25]
    assert data["phenotypic_filters"][0]["min_val"] == 0.55 and data["phenotypic_filters"][0]["max_val"] == 0.905
    analyst.post("/queries/memory/reset/")
    upload = SimpleUploadedFile("params.toml", exported.content, content_type="application/toml")
    imported = analyst.post("/queries/memory/import/", {"file": upload})
    assert imported.status_code == 302
    page = analyst.get("/queries/memory/").content.decode()
    assert "Imported the query: 2 filters." in page
    assert 'value="25.5"' in page and 'value="40.25"' in page and 'value="0.55"' in page and 'value="0.905"' in page
    assert 'name="cols-cognitive" value="working_memory" checked' in page


def test_import_with_unknown_names_changes_nothing(analyst, study_ro) -> None:
    analyst.post("/queries/memory/state/", FORM, **HX)
    text = (
        '[[phenotypic_filters]]\ntable = "questionnaires"\ncolumn = "q1"\nfilter_type = "range"\nmin_val = 1\n'
        '[export_selection]\nselected_columns = { cognitive = ["nope"] }\n'
    )
    response = analyst.post("/queries/memory/import/", {"file": SimpleUploadedFile("bad.toml", text.encode())})
    html = response.content.decode()
    assert response.status_code == 422 and "Nothing was imported." in html
    assert "unknown table &#x27;questionnaires&#x27;" in html and "has no column &#x27;nope&#x27;" in html
    assert 'value="40.25"' in html  # the builder kept its query
    empty = analyst.post("/queries/memory/import/", {})
    assert empty.status_code == 422 and "Choose a .toml or .json file" in empty.content.decode()


def test_json_export_import(analyst, study_ro) -> None:
    analyst.post("/queries/memory/state/", FORM, **HX)
    exported = analyst.get("/queries/memory/export.json")
    spec = json.loads(exported.content)
    assert spec["filters"][0] == {"dataset": "demographics", "column": "age", "op": "between", "value": [25.5, 40.25]}
    analyst.post("/queries/memory/reset/")
    good = analyst.post("/queries/memory/import/", {"file": SimpleUploadedFile("q.json", exported.content)})
    assert good.status_code == 302 and 'value="0.905"' in analyst.get("/queries/memory/").content.decode()
    spec["columns"] = {"nowhere": []}
    bad = analyst.post("/queries/memory/import/", {"file": SimpleUploadedFile("q.json", json.dumps(spec).encode())})
    assert bad.status_code == 422 and "unknown dataset &#x27;nowhere&#x27;" in bad.content.decode()
    junk = analyst.post("/queries/memory/import/", {"file": SimpleUploadedFile("q.json", b"{not json")})
    assert junk.status_code == 422 and "not valid UTF-8 JSON" in junk.content.decode()


DEEP = {
    "q.json": b'{"filters": ' + b"[" * 100_000,
    "deep.toml": b"filters = " + b"[" * 100_000,
    "inline.toml": b"cohort_filters = " + b"{a = " * 100_000,
}


@pytest.mark.parametrize("name", sorted(DEEP))
def test_an_import_nested_too_deeply_is_refused_and_changes_nothing(analyst, study_ro, name: str) -> None:
    analyst.post("/queries/memory/state/", FORM, **HX)
    response = analyst.post("/queries/memory/import/", {"file": SimpleUploadedFile(name, DEEP[name])})
    html = response.content.decode()
    assert response.status_code == 422 and "Nothing was imported." in html
    assert "nests lists or tables more than 64 levels deep" in html
    assert 'value="40.25"' in html  # the builder kept its query
