"""BDT's composite id (``customID``) is derived: checked against id + session, never required, never a data column;
and config.toml's ``[ui]`` settings become the study's builder defaults (age range, rows shown)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.models import DatasetVersion, Study
from queries.pages.builder_schema import study_schema
from tests.bdt_compat.oracle import FIXTURES, Layout

pytestmark = pytest.mark.django_db


def _codes(tenant, slug: str, dataset: str) -> list[str]:
    with tenant_context(tenant):
        version = DatasetVersion.objects.get(dataset__study__slug=slug, dataset__name=dataset)
        codes = [w["code"] for w in version.warnings]
    connection.set_schema_to_public()
    return codes


def test_the_composite_id_is_checked_and_never_offered_as_data(import_bdt, steward, steward_page, tenant_a) -> None:
    slug = import_bdt("api", FIXTURES / "rockland").slug
    assert "composite_id_recognised" in _codes(tenant_a, slug, "demographics")
    assert "composite_id_recognised" in _codes(tenant_a, slug, "flanker")
    with tenant_context(tenant_a):
        schema = study_schema(Study.objects.get(slug=slug))
        assert schema.datasets["demographics"].column("customID") is None
        assert schema.datasets["flanker"].column("customID") is None
        assert schema.datasets["flanker"].column("accuracy") is not None
    connection.set_schema_to_public()
    builder = steward_page.get(f"/queries/{slug}/").content.decode()
    assert 'value="accuracy"' in builder and 'value="customID"' not in builder
    for spec in (
        {"filters": [{"dataset": "demographics", "column": "customID", "op": "eq", "value": "SUB001_BAS1"}]},
        {"columns": {"flanker": ["customID"]}},
        {"exclude": ["customID"]},
    ):
        response = steward.post(f"/api/v1/studies/{slug}/count", spec)
        assert response.status_code == 422 and response.json()["error"]["code"] == "key_column", spec
    # The file keeps it (values exactly as uploaded), the dictionary lists it.
    columns = steward.get(f"/api/v1/studies/{slug}/datasets/demographics").json()["latest_version"]["columns"]
    assert "customID" in [c["name"] for c in columns]


def test_a_composite_id_that_does_not_match_is_reported_not_rejected(import_bdt, steward, run_job) -> None:
    slug = import_bdt("api", FIXTURES / "rockland").slug
    text = (
        "ursi,session_num,customID,accuracy\n"
        "SUB001,BAS1,SUB001_BAS1,0.5\n"
        "SUB001,BAS2,SUB001_BAS1,0.6\n"  # BDT would have rewritten it
        "SUB002,BAS1,,0.7\n"
    )
    response = steward.post(
        f"/api/v1/studies/{slug}/datasets",
        {"file": SimpleUploadedFile("flanker.csv", text.encode()), "name": "flanker", "kind": "measure"},
        multipart=True,
    )
    run_job(response.json()["ingest"]["id"])
    job = steward.get(f"/api/v1/ingests/{response.json()['ingest']['id']}").json()
    assert job["status"] == "succeeded"
    mismatch = next(w for w in job["warnings"] if w["code"] == "composite_id_mismatch")
    assert mismatch["details"] == {"column": "customID", "count": 2, "rows": [3, 4]}
    assert "'SUB001_BAS1' where 'SUB001_BAS2' was expected" in mismatch["message"]
    assert "an empty cell where 'SUB002_BAS1' was expected" in mismatch["message"]


def test_a_composite_column_in_cross_sectional_data_is_ordinary_data(import_bdt, steward, tmp_path: Path) -> None:
    folder = tmp_path / "xs"
    folder.mkdir()
    (folder / "demographics.csv").write_text("ursi,customID,age\nA,A_1,30\nB,B_1,40\n")
    result = import_bdt("api", folder, measures=False)
    assert result.created
    assert "kept as an ordinary data column" in result.messages
    study = steward.get(f"/api/v1/studies/{result.slug}").json()
    assert study["composite_id_column"] is None and study["longitudinal"] is False
    spec = {"filters": [{"dataset": "demographics", "column": "customID", "op": "eq", "value": "A_1"}]}
    assert steward.post(f"/api/v1/studies/{result.slug}/count", spec).json()["participants"] == 1


@pytest.mark.parametrize(("layout", "age_range"), [("cross_sectional", [18, 80]), ("longitudinal", [25, 80])])
def test_ui_defaults_start_the_builder_with_bdts_age_range(
    import_bdt, steward, steward_page, layout: str, age_range: list[int]
) -> None:
    data = Layout(layout)
    slug = import_bdt("wizard", data.folder).slug
    page = steward_page.get(f"/queries/{slug}/").content.decode()
    assert f'id="age_lo" name="age_lo" value="{age_range[0]}"' in page
    assert f'id="age_hi" name="age_hi" value="{age_range[1]}"' in page
    spec = json.loads(steward_page.get(f"/queries/{slug}/export.json").content)
    assert spec["filters"] == [{"dataset": "demographics", "column": "age", "op": "between", "value": age_range}]
    counted = steward.post(f"/api/v1/studies/{slug}/count", spec).json()
    assert (counted["participants"], counted["rows"]) == data.count(age=tuple(map(float, age_range)))
    # Unlike BDT's slider, the default can be cleared: then nobody is left out for a missing age.
    steward_page.post(f"/queries/{slug}/state/", {"_action": "clear_age"}, HTTP_HX_REQUEST="true")
    cleared = json.loads(steward_page.get(f"/queries/{slug}/export.json").content)
    assert cleared.get("filters", []) == []


def test_ui_max_display_rows_is_the_preview_page_size(import_bdt, steward, steward_page, execute) -> None:
    slug = import_bdt("import_folder", FIXTURES / "longitudinal").slug
    run = steward.post(f"/api/v1/studies/{slug}/queries", {}).json()["id"]
    assert execute(run) == "succeeded"
    preview = steward_page.get(f"/queries/runs/{run}/rows/").content.decode()
    assert '<option value="50" selected>50</option>' in preview
    assert "rows 1–6 of 6" in preview
