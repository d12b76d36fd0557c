"""Uploading datasets through the API: versions, exact values, diffs, limits, and nothing half-written."""

from __future__ import annotations

import duckdb
import pytest
from django_tenants.utils import tenant_context

from datasets.models import Dataset, DatasetVersion
from datasets.storage import version_cache_path
from tests.csv_data import UPLOAD_COGNITIVE as COGNITIVE
from tests.csv_data import UPLOAD_DEMOGRAPHICS as DEMOGRAPHICS
from tests.plugins.datasets import csv_upload, study_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def memory(make_study) -> dict:
    return make_study("memory", age_column="age", sex_column="sex", site_column="site")


def _parquet_rows(tenant, study: str, dataset: str, number: int = 1) -> list[tuple]:
    with tenant_context(tenant):
        version = DatasetVersion.objects.get(dataset__study__slug=study, dataset__name=dataset, number=number)
        path = version_cache_path(version.parquet_file, version.parquet_sha256)
    return duckdb.connect().execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall()


def test_demographics_upload_registers_version_one(steward_api, memory, upload, tenant_a) -> None:
    accepted, ingest = upload("memory", DEMOGRAPHICS, "demographics", kind="demographics", title="Demographics")
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["dataset"] == "demographics" and set(body["ingest"]) == {"id", "status", "progress"}
    assert ingest["status"] == "succeeded" and ingest["version"] == 1 and ingest["progress"] == 1.0
    assert ingest["error"] is None
    detail = steward_api.get("/api/v1/studies/memory/datasets/demographics").json()
    assert detail["kind"] == "demographics" and detail["title"] == "Demographics"
    latest = detail["latest_version"]
    assert latest["number"] == 1 and latest["row_count"] == 5 and len(latest["sha256"]) == 64
    columns = {c["name"]: c for c in latest["columns"]}
    assert columns["participant_id"]["type"] == "string"
    assert columns["age"]["type"] == "float" and columns["age"]["min"] == 25.5 and columns["age"]["max"] == 41
    assert {"name", "type", "missing", "distinct", "min", "max"} <= set(columns["sex"])
    assert latest["participants"] == 3 and latest["sessions"] == ["BAS1", "FU1"]
    assert steward_api.get("/api/v1/studies/memory").json()["demographics"] == "demographics"


def test_values_round_trip_exactly(memory, upload, tenant_a) -> None:
    upload("memory", DEMOGRAPHICS, "demographics", kind="demographics")
    _, ingest = upload("memory", COGNITIVE, "cognitive")
    assert ingest["status"] == "succeeded", ingest
    rows = _parquet_rows(tenant_a, "memory", "cognitive")
    assert rows[0][0] == "001" and rows[0][1] == "BAS1"  # leading zeros and labels kept
    assert rows[0][3] == 'said "hi", then left'
    assert rows[1][3] == "=SUM(A1)"  # formula-like cells are data
    assert rows[2][2] is None  # empty cell = missing
    warnings = {w["code"] for w in ingest["warnings"]}
    assert warnings, "ids missing from demographics must be reported"


def test_second_upload_is_version_two_with_a_diff(steward_api, memory, upload) -> None:
    upload("memory", DEMOGRAPHICS, "demographics", kind="demographics")
    upload("memory", COGNITIVE, "cognitive")
    changed = COGNITIVE.replace(",note\n", ",note,reaction_ms\n").replace("\n0", ",1\n0").rstrip("\n")
    changed = "participant_id,session,working_memory,reaction_ms\n001,BAS1,101.5,350\n001,FU1,99,360\n"
    _, ingest = upload("memory", changed, "cognitive")
    assert ingest["status"] == "succeeded" and ingest["version"] == 2
    versions = steward_api.get("/api/v1/studies/memory/datasets/cognitive/versions").json()
    assert [v["number"] for v in versions["items"]] == [2, 1]
    assert versions["items"][0]["sha256"] != versions["items"][1]["sha256"]
    diff = versions["items"][0]["diff"]
    assert "reaction_ms" in str(diff["added"]) and "note" in str(diff["removed"])
    assert steward_api.get("/api/v1/studies/memory/datasets/cognitive/versions/1").json()["row_count"] == 4


def test_identical_reupload_creates_no_new_version(memory, upload, tenant_a) -> None:
    upload("memory", DEMOGRAPHICS, "demographics", kind="demographics")
    _, again = upload("memory", DEMOGRAPHICS, "demographics", kind="demographics")
    assert again["status"] == "succeeded" and again["version"] == 1
    assert any(w["code"] == "identical_to_latest" for w in again["warnings"])
    with tenant_context(tenant_a):
        assert DatasetVersion.objects.count() == 1


def test_measure_before_demographics_is_409(steward_api, memory) -> None:
    response = steward_api.post(
        "/api/v1/studies/memory/datasets", {"file": csv_upload(COGNITIVE), "name": "cognitive"}, multipart=True
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "demographics_missing"


def test_kind_mismatch_is_409(steward_api, memory, upload) -> None:
    upload("memory", DEMOGRAPHICS, "demographics", kind="demographics")
    response, _ = upload("memory", DEMOGRAPHICS, "demographics", kind="measure")
    assert response.status_code == 409 and response.json()["error"]["code"] == "kind_mismatch"


def test_missing_file_and_bad_names_are_422(steward_api, memory) -> None:
    no_file = steward_api.post("/api/v1/studies/memory/datasets", {"name": "x", "kind": "measure"}, multipart=True)
    assert no_file.status_code == 422 and no_file.json()["error"]["code"] == "file_missing"
    for bad in ("Bad Name", "../etc", "1abc", "x" * 70):
        response = steward_api.post(
            "/api/v1/studies/memory/datasets",
            {"file": csv_upload(DEMOGRAPHICS), "name": bad, "kind": "demographics"},
            multipart=True,
        )
        assert response.status_code == 422, bad
        assert response.json()["error"]["code"] == "invalid_name"


def test_name_defaults_to_slug_of_filename(steward_api, memory, django_capture_on_commit_callbacks) -> None:
    response = steward_api.post(
        "/api/v1/studies/memory/datasets",
        {"file": csv_upload(DEMOGRAPHICS, "../../My Demographics.CSV"), "kind": "demographics"},
        multipart=True,
    )
    assert response.status_code == 202
    assert response.json()["dataset"] == "my_demographics"


def test_upload_over_the_tenant_limit_is_413_and_stores_nothing(steward_api, memory, tenant_a) -> None:
    tenant_a.settings = {"upload_max_bytes": 1000}
    tenant_a.save(update_fields=["settings"])
    big = DEMOGRAPHICS + "".join(f"{i:04d},BAS1,30,F,Discovery\n" for i in range(100, 400))
    response = steward_api.post(
        "/api/v1/studies/memory/datasets",
        {"file": csv_upload(big), "name": "demographics", "kind": "demographics"},
        multipart=True,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert study_files(tenant_a, "memory") == []
    with tenant_context(tenant_a):
        assert not Dataset.objects.exists()


@pytest.mark.parametrize("role", ["analyst", "viewer"])
def test_only_stewards_upload(api, tenant_a, memory, role) -> None:
    response = api(tenant_a, role).post(
        "/api/v1/studies/memory/datasets",
        {"file": csv_upload(DEMOGRAPHICS), "name": "demographics", "kind": "demographics"},
        multipart=True,
    )
    assert response.status_code == 403


def test_ingest_of_other_tenant_is_404(api, tenant_b, memory, upload) -> None:
    accepted, _ = upload("memory", DEMOGRAPHICS, "demographics", kind="demographics")
    job_id = accepted.json()["ingest"]["id"]
    assert api(tenant_b, "owner").get(f"/api/v1/ingests/{job_id}").status_code == 404
    assert api(tenant_b, "owner").get("/api/v1/ingests/999999").status_code == 404


def test_dictionary_csv_is_formula_safe(steward_api, memory, upload, tenant_a) -> None:
    upload("memory", DEMOGRAPHICS, "demographics", kind="demographics")
    with tenant_context(tenant_a):
        dataset = Dataset.objects.get(name="demographics")
        dataset.column_meta = {"age": {"description": "=cmd|' /C calc'!A0", "sensitivity": ""}}
        dataset.save()
    response = steward_api.get("/api/v1/studies/memory/datasets/demographics/dictionary.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode()
    assert text.splitlines()[0].startswith("dataset,version,column,type")
    assert "'=cmd" in text and ",=cmd" not in text
