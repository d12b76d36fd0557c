"""Counts, runs, rows, exports and reports through the API, against independent expectations."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def test_count_counts_participants_and_sessions(steward_api, study_ro) -> None:
    everyone = steward_api.post("/api/v1/studies/memory/count", {})
    assert everyone.status_code == 200, everyone.content
    assert everyone.json()["participants"] == 4 and everyone.json()["rows"] == 6
    site = steward_api.post("/api/v1/studies/memory/count", {"sites": ["Discovery"]}).json()
    assert (site["participants"], site["rows"]) == (3, 4)  # ';', '{a, b}' and space-separated cells all match
    fraction = steward_api.post(
        "/api/v1/studies/memory/count",
        {"filters": [{"dataset": "flanker", "column": "accuracy", "op": "between", "value": [0.55, 0.905]}]},
    ).json()
    assert fraction["participants"] == 3
    combined = steward_api.post(
        "/api/v1/studies/memory/count",
        {"sessions": ["BAS1"], "filters": [{"dataset": "demographics", "column": "age", "op": "gte", "value": 30}]},
    ).json()
    assert (combined["participants"], combined["rows"]) == (3, 3)  # 002, 003, 004 at BAS1


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({"filters": [{"dataset": "nope", "column": "age", "op": "eq", "value": 1}]}, "unknown_dataset"),
        ({"filters": [{"dataset": "demographics", "column": "nope", "op": "eq", "value": 1}]}, "unknown_column"),
        ({"filters": [{"dataset": "demographics", "column": "age", "op": "eq", "value": "old"}]}, "invalid_value"),
        ({"unknown_key": 1}, "invalid_spec"),
        (
            {"filters": [{"dataset": "demographics'; DROP TABLE x; --", "column": "age", "op": "eq", "value": 1}]},
            "unknown_dataset",
        ),
    ],
)
def test_invalid_specs_are_422_with_a_code(steward_api, study_ro, spec, code) -> None:
    response = steward_api.post("/api/v1/studies/memory/count", spec)
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == code


def test_injection_in_values_is_data(steward_api, study_ro) -> None:
    spec = {"filters": [{"dataset": "cognitive", "column": "note", "op": "in", "value": ["x' OR '1'='1", "ok"]}]}
    assert steward_api.post("/api/v1/studies/memory/count", spec).json()["participants"] == 1


def test_viewers_cannot_count(api, tenant_a, study_ro) -> None:
    assert api(tenant_a, "viewer").post("/api/v1/studies/memory/count", {}).status_code == 403


def test_run_rows_and_columns(steward_api, study_ro, execute) -> None:
    spec = {"columns": {"cognitive": ["working_memory"]}, "sessions": ["BAS1"]}
    accepted = steward_api.post("/api/v1/studies/memory/queries", spec)
    assert accepted.status_code == 202 and accepted.json()["status"] == "queued"
    run_id = accepted.json()["id"]
    assert execute(run_id) == "succeeded"
    run = steward_api.get(f"/api/v1/queries/{run_id}").json()
    assert run["status"] == "succeeded" and run["row_count"] == 4  # every BAS1 row; 004 has no cognitive row
    assert run["columns"][:2] == ["participant_id", "session"]
    assert run["columns"][-1] == "working_memory"
    assert {v["dataset"] for v in run["dataset_versions"]} == {"demographics", "cognitive"}
    rows = steward_api.get(f"/api/v1/queries/{run_id}/rows?page=1&page_size=2").json()
    assert rows["total"] == 4 and len(rows["items"]) == 2 and rows["items"][0][0] == "001"
    by_memory = steward_api.get(f"/api/v1/queries/{run_id}/rows?sort=working_memory&order=desc").json()
    assert by_memory["items"][0][-1] == 120
    assert steward_api.get(f"/api/v1/queries/{run_id}/rows?sort=nope").status_code == 422


def test_identical_run_is_joined_not_duplicated(steward_api, study_ro, execute) -> None:
    first = steward_api.post("/api/v1/studies/memory/queries", {"sites": ["Discovery"]}).json()["id"]
    again = steward_api.post("/api/v1/studies/memory/queries", {"sites": ["Discovery"]}).json()["id"]
    assert first == again
    execute(first)
    assert steward_api.post("/api/v1/studies/memory/queries", {"sites": ["Discovery"]}).json()["id"] == first


def test_another_users_identical_run_reuses_the_result(api, tenant_a, steward_api, study_ro, execute) -> None:
    first = steward_api.post("/api/v1/studies/memory/queries", {}).json()["id"]
    execute(first)
    other = api(tenant_a, "analyst")
    reused = other.post("/api/v1/studies/memory/queries", {})
    assert reused.json()["status"] == "succeeded" and reused.json()["id"] != first
    assert other.get(f"/api/v1/queries/{reused.json()['id']}").json()["reused_from"] == first
    assert other.get(f"/api/v1/queries/{first}").status_code == 404  # not theirs


def test_wide_shape(steward_api, study_ro, execute) -> None:
    spec = {"columns": {"cognitive": ["working_memory"]}, "shape": "wide"}
    run_id = steward_api.post("/api/v1/studies/memory/queries", spec).json()["id"]
    assert execute(run_id) == "succeeded"
    run = steward_api.get(f"/api/v1/queries/{run_id}").json()
    assert run["row_count"] == 4
    assert "working_memory_BAS1" in run["columns"] and "working_memory_FU1" in run["columns"]
    assert "session" not in run["columns"]


def test_exports(steward_api, study_ro, execute, tenant_a) -> None:
    run_id = steward_api.post("/api/v1/studies/memory/queries", {"columns": {"cognitive": ["note"]}}).json()["id"]
    execute(run_id)
    refused = steward_api.get(f"/api/v1/queries/{run_id}/export?format=csv")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "purpose_required"
    response = steward_api.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=grant+report+2026")
    assert response.status_code == 200
    assert "cognitive_long_" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:2] == ["participant_id", "session"]
    notes = [row[-1] for row in rows[1:]]
    assert '\'=HYPERLINK("x")' in notes and "'+1 more" in notes  # formula injection neutralized
    archive = steward_api.get(f"/api/v1/queries/{run_id}/export?format=zip&purpose=grant+report+2026")
    bundle = zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content)))
    names = set(bundle.namelist())
    assert {"manifest.json", "data_dictionary.csv", "filtering_report.csv", "final_summary.csv"} <= names
    manifest = json.loads(bundle.read("manifest.json"))
    assert manifest["purpose"] == "grant report 2026" and manifest["row_count"] == 6
    assert {v["dataset"] for v in manifest["dataset_versions"]} == {"demographics", "cognitive"}
    import hashlib

    assert hashlib.sha256(bundle.read(manifest["data_file"])).hexdigest() == manifest["data_sha256"]


def test_export_of_a_failed_or_queued_run_is_409(steward_api, study_ro) -> None:
    run_id = steward_api.post("/api/v1/studies/memory/queries", {}).json()["id"]
    response = steward_api.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=checking+things")
    assert response.status_code == 409


def test_report_steps_and_summary(steward_api, study_ro, execute) -> None:
    spec = {"sites": ["Discovery"], "filters": [{"dataset": "demographics", "column": "age", "op": "lt", "value": 40}]}
    run_id = steward_api.post("/api/v1/studies/memory/queries", spec).json()["id"]
    execute(run_id)
    report = steward_api.get(f"/api/v1/queries/{run_id}/report").json()
    steps = report["steps"]
    assert [s["after"] for s in steps] == [6, 4, 3]
    assert steps[0]["before"] is None and steps[1]["removed"] == 2
    assert report["summary"][0]["column"] == "OVERALL"
    age = next(item for item in report["summary"] if item["column"] == "age")
    assert age["count"] == 3 and age["summary"].startswith("Mean:")


def test_cancel_a_queued_run(steward_api, study_ro, execute) -> None:
    run_id = steward_api.post("/api/v1/studies/memory/queries", {}).json()["id"]
    cancelled = steward_api.post(f"/api/v1/queries/{run_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert execute(run_id) == "cancelled"
    assert steward_api.post(f"/api/v1/queries/{run_id}/cancel").status_code == 409


def test_runs_of_other_tenants_are_404(api, tenant_b, steward_api, study_ro) -> None:
    run_id = steward_api.post("/api/v1/studies/memory/queries", {}).json()["id"]
    outsider = api(tenant_b, "owner")
    assert outsider.get(f"/api/v1/queries/{run_id}").status_code == 404
    assert outsider.post("/api/v1/studies/memory/count", {}).status_code == 404


def test_saved_queries_crud(api, tenant_a, steward_api, study_ro) -> None:
    spec = {"sites": ["Discovery"]}
    created = steward_api.post("/api/v1/studies/memory/saved-queries", {"name": "Discovery", "spec": spec})
    assert created.status_code == 201, created.content
    saved_id = created.json()["id"]
    assert steward_api.get("/api/v1/studies/memory/saved-queries").json()["total"] == 1
    other = api(tenant_a, "analyst")
    assert other.get(f"/api/v1/saved-queries/{saved_id}").status_code == 404  # private
    shared = steward_api.put(f"/api/v1/saved-queries/{saved_id}", {"name": "Disc", "spec": spec, "shared": True})
    assert shared.status_code == 200 and shared.json()["name"] == "Disc"
    assert other.get(f"/api/v1/saved-queries/{saved_id}").status_code == 200
    assert other.delete(f"/api/v1/saved-queries/{saved_id}").status_code == 404
    bad = steward_api.post("/api/v1/studies/memory/saved-queries", {"name": "x", "spec": {"sites": 3}})
    assert bad.status_code == 422
    assert steward_api.delete(f"/api/v1/saved-queries/{saved_id}").status_code == 204


def test_lineage_links_versions_exports_and_reruns(steward_api, study_ro, execute) -> None:
    run_id = steward_api.post("/api/v1/studies/memory/queries", {"columns": {"flanker": ["accuracy"]}}).json()["id"]
    execute(run_id)
    first = steward_api.get(f"/api/v1/queries/{run_id}/export?format=parquet&purpose=methods+check")
    b"".join(first.streaming_content)
    rerun = steward_api.post(f"/api/v1/queries/{run_id}/rerun")
    assert rerun.status_code == 202 and rerun.json()["id"] != run_id
    execute(rerun.json()["id"])
    lineage = steward_api.get(f"/api/v1/queries/{run_id}/lineage").json()
    assert {v["dataset"] for v in lineage["run"]["dataset_versions"]} == {"demographics", "flanker"}
    assert [e["format"] for e in lineage["exports"]] == ["parquet"]
    assert lineage["exports"][0]["sha256"] == first["X-Content-SHA256"]
    assert lineage["exports"][0]["purpose"] == "methods check"
    assert lineage["reruns"] == [{"id": rerun.json()["id"], "status": "succeeded"}]
    again = steward_api.get(f"/api/v1/queries/{rerun.json()['id']}").json()
    original = steward_api.get(f"/api/v1/queries/{run_id}").json()
    assert again["result_sha256"] == original["result_sha256"]  # same versions -> byte-identical result


def test_version_usage_shows_runs_and_exports(api, tenant_a, steward_api, study_ro, execute) -> None:
    run_id = steward_api.post("/api/v1/studies/memory/queries", {"columns": {"flanker": ["accuracy"]}}).json()["id"]
    execute(run_id)
    b"".join(steward_api.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=usage+check").streaming_content)
    usage = steward_api.get("/api/v1/studies/memory/datasets/flanker/versions/1/usage").json()
    assert [r["id"] for r in usage["runs"]] == [run_id]
    assert usage["runs"][0]["exports"][0]["purpose"] == "usage check"
    unused = steward_api.get("/api/v1/studies/memory/datasets/cognitive/versions/1/usage").json()
    assert unused["runs"] == []
    assert api(tenant_a, "analyst").get("/api/v1/studies/memory/datasets/flanker/versions/1/usage").status_code == 403
    assert steward_api.get("/api/v1/studies/memory/datasets/flanker/versions/9/usage").status_code == 404
