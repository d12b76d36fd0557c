"""Deleting datasets and versions: tombstones that keep audit and lineage, and files that reruns need."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django_tenants.utils import tenant_context

from audit.verification import audit_chain_verify
from datasets.models import Dataset, DatasetVersion

pytestmark = pytest.mark.django_db

COGNITIVE_V2 = "participant_id,session,working_memory,note\n001,BAS1,100,\n002,BAS1,121,\n003,FU1,91,\n"


def _versions(tenant, name: str) -> list[DatasetVersion]:
    with tenant_context(tenant):
        found = list(DatasetVersion.all_objects.filter(dataset__name=name).order_by("number"))
    connection.set_schema_to_public()
    return found


def _run(client, execute, spec) -> int:
    accepted = client.post("/api/v1/studies/memory/queries", spec)
    assert accepted.status_code == 202, accepted.content
    assert execute(accepted.json()["id"]) == "succeeded"
    return accepted.json()["id"]


def test_deleting_a_dataset_keeps_lineage_audit_and_the_files_runs_read(
    steward_api, study, execute, tenant_a, events, last_event_id, upload, django_capture_on_commit_callbacks
) -> None:
    run_id = _run(steward_api, execute, {"columns": {"cognitive": ["working_memory"]}})
    _, ingest = upload("memory", COGNITIVE_V2, "cognitive")  # v2: never read by a run
    assert ingest["version"] == 2
    exported = steward_api.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=Paper%20figure%202")
    original_sha = steward_api.get(f"/api/v1/queries/{run_id}").json()["result_sha256"]
    v1, v2 = _versions(tenant_a, "cognitive")
    mark = last_event_id()

    with django_capture_on_commit_callbacks(execute=True):  # files are removed once the deletion commits
        deleted = steward_api.delete("/api/v1/studies/memory/datasets/cognitive")
    assert deleted.status_code == 200, deleted.content
    assert deleted.json()["files_kept_for_versions"] == [1]

    # Gone from the catalog and from new queries ...
    assert steward_api.get("/api/v1/studies/memory/datasets/cognitive").status_code == 404
    names = [d["name"] for d in steward_api.get("/api/v1/studies/memory/datasets").json()["items"]]
    assert names == ["demographics", "flanker"]
    spec = {"filters": [{"dataset": "cognitive", "column": "working_memory", "op": "gt", "value": 1}]}
    refused = steward_api.post("/api/v1/studies/memory/count", spec)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_dataset"
    # ... its name stays reserved ...
    again, _ = upload("memory", COGNITIVE_V2, "cognitive")
    assert again.status_code == 409 and again.json()["error"]["code"] == "dataset_deleted"

    # ... and exactly one event says who deleted what.
    [event] = events("dataset.deleted", after=mark)
    assert event.actor_email == steward_api.user.email and event.target_id == str(v1.dataset_id)
    assert event.details["files_kept_for_versions"] == [1] and event.details["files_removed_for_versions"] == [2]
    assert event.request_id and event.user_agent is not None and event.ip == "127.0.0.1"

    # Lineage stays: the run still names its versions, usage still lists the run and its export.
    lineage = steward_api.get(f"/api/v1/queries/{run_id}/lineage").json()
    assert {v["dataset"] for v in lineage["run"]["dataset_versions"]} == {"demographics", "cognitive"}
    assert lineage["exports"][0]["sha256"] == exported["X-Content-SHA256"]
    usage = steward_api.get("/api/v1/studies/memory/datasets/cognitive/versions/1/usage").json()
    assert [run["id"] for run in usage["runs"]] == [run_id]

    # The read version's files are kept (a rerun reproduces the same bytes); the unread one's are gone.
    assert default_storage.exists(v1.parquet_file) and default_storage.exists(v1.original_file)
    assert not default_storage.exists(v2.parquet_file) and not default_storage.exists(v2.original_file)
    rerun = steward_api.post(f"/api/v1/queries/{run_id}/rerun")
    assert execute(rerun.json()["id"]) == "succeeded"
    assert steward_api.get(f"/api/v1/queries/{rerun.json()['id']}").json()["result_sha256"] == original_sha

    # Earlier events are untouched and the chain still verifies.
    assert events("dataset_version.created", details__dataset="cognitive")
    with tenant_context(tenant_a):
        assert audit_chain_verify().ok
        assert Dataset.all_objects.get(pk=v1.dataset_id).deleted_by_id == steward_api.user.pk


def test_deletion_needs_a_steward_and_refuses_bad_requests(api, steward_api, study, tenant_a) -> None:
    analyst = api(tenant_a, "analyst")
    forbidden = analyst.delete("/api/v1/studies/memory/datasets/flanker")
    assert forbidden.status_code == 403 and "may not delete datasets" in forbidden.json()["error"]["message"]
    assert steward_api.delete("/api/v1/studies/memory/datasets/nope").status_code == 404
    assert steward_api.delete("/api/v1/studies/nope/datasets/flanker").status_code == 404
    driver = steward_api.delete("/api/v1/studies/memory/datasets/demographics")
    assert driver.status_code == 409 and driver.json()["error"]["code"] == "demographics_in_use"
    assert steward_api.delete("/api/v1/studies/memory/datasets/flanker").status_code == 200
    assert steward_api.delete("/api/v1/studies/memory/datasets/flanker").status_code == 404  # already gone
    assert api(tenant_a, "analyst").get("/api/v1/studies/memory/datasets/flanker").status_code == 404


def test_deleting_a_version_falls_back_to_the_previous_one(steward_api, study, upload, tenant_a, events) -> None:
    _, ingest = upload("memory", COGNITIVE_V2, "cognitive")
    assert ingest["version"] == 2
    spec = {"filters": [{"dataset": "cognitive", "column": "working_memory", "op": "gte", "value": 100}]}
    assert steward_api.post("/api/v1/studies/memory/count", spec).json()["participants"] == 2  # v2: 001, 002
    response = steward_api.delete("/api/v1/studies/memory/datasets/cognitive/versions/2")
    assert response.status_code == 200 and response.json()["version"] == 2
    assert steward_api.get("/api/v1/studies/memory/datasets/cognitive").json()["latest_version"]["number"] == 1
    assert steward_api.post("/api/v1/studies/memory/count", spec).json()["participants"] == 2  # v1: 001 and 002
    [event] = events("dataset_version.deleted")
    assert event.details["version"] == 2 and event.details["dataset"] == "cognitive"
    last = steward_api.delete("/api/v1/studies/memory/datasets/cognitive/versions/1")
    assert last.status_code == 409 and last.json()["error"]["code"] == "last_version"
    assert steward_api.delete("/api/v1/studies/memory/datasets/cognitive/versions/2").status_code == 404
    _, newer = upload("memory", COGNITIVE_V2 + "004,BAS1,80,\n", "cognitive")
    assert newer["version"] == 3  # deleted numbers are never reused


def test_delete_page_asks_for_the_name_and_hides_the_dataset(browser, study, tenant_a, events) -> None:
    steward = browser("steward")
    page = steward.get("/studies/memory/datasets/flanker/delete/")
    assert page.status_code == 200 and "Type <code>flanker</code> to confirm" in page.content.decode()
    wrong = steward.post("/studies/memory/datasets/flanker/delete/", {"confirm_name": "flank"})
    assert wrong.status_code == 422 and "to confirm" in wrong.content.decode()
    assert not events("dataset.deleted")
    done = steward.post("/studies/memory/datasets/flanker/delete/", {"confirm_name": "flanker"})
    assert done.status_code == 302 and done["Location"] == "/studies/memory/"
    page = steward.get("/studies/memory/").content.decode()
    assert "Deleted flanker. Its audit trail and lineage are kept." in page
    assert 'data-dataset="flanker"' not in page and 'data-dataset="cognitive"' in page
    assert len(events("dataset.deleted")) == 1
    assert browser("analyst").get("/studies/memory/datasets/cognitive/delete/").status_code == 403
