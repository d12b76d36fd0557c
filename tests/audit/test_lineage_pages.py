"""Lineage in the pages and the API: the run page (versions, exports, reruns, re-run on latest with a comparison),
the version page (who used it), reruns that fetch evicted files from storage, and no event for a failed change."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django_tenants.utils import tenant_context

from datasets.deletion_services import dataset_delete
from datasets.models import Dataset, DatasetVersion
from datasets.storage import cache_dir

pytestmark = pytest.mark.django_db

COGNITIVE_V2 = "participant_id,session,working_memory,note\n001,BAS1,100,\n001,FU1,99,\n002,BAS1,121,\n004,BAS1,95,\n"


def _page_run(client, execute, django_capture_on_commit_callbacks, spec) -> int:
    with django_capture_on_commit_callbacks(execute=False):
        run_id = client.post("/api/v1/studies/memory/queries", spec).json()["id"]
    assert execute(run_id) == "succeeded"
    return run_id


def test_run_page_shows_versions_exports_reruns_and_compares_with_latest(
    browser, steward_api, study, execute, upload, django_capture_on_commit_callbacks, events
) -> None:
    run_id = _page_run(
        steward_api, execute, django_capture_on_commit_callbacks, {"columns": {"cognitive": ["working_memory"]}}
    )
    steward_api.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=Ethics%20board%20report")
    steward = browser("steward")
    page = steward.get(f"/queries/runs/{run_id}/").content.decode()
    assert 'href="/studies/memory/datasets/cognitive/versions/1/"' in page
    exports = page.split("data-exports")[1].split("</table>")[0]
    assert "Ethics board report" in exports and steward_api.user.email in exports and "csv" in exports
    assert "Not re-run yet." in page

    _, ingest = upload("memory", COGNITIVE_V2, "cognitive")
    assert ingest["version"] == 2
    with django_capture_on_commit_callbacks(execute=False):
        response = steward.post(f"/queries/runs/{run_id}/rerun-latest/")
    assert response.status_code == 302
    new_id = int(response["Location"].split("/runs/")[1].split("/")[0])
    assert response["Location"].endswith(f"?compare={run_id}")
    pending = steward.get(f"/queries/runs/{new_id}/compare/{run_id}/").content.decode()
    assert "the counts appear when it has finished" in pending
    assert execute(new_id) == "succeeded"
    table = steward.get(f"/queries/runs/{new_id}/compare/{run_id}/").content.decode()
    cognitive = table.split('data-dataset="cognitive"')[1].split("</tr>")[0]
    assert "v1" in cognitive and "v2" in cognitive and "new version" in cognitive
    demographics = table.split('data-dataset="demographics"')[1].split("</tr>")[0]
    assert "same" in demographics
    participants = table.split('data-total="participants"')[1].split("</tr>")[0]
    assert ">4<" in participants and ">4<" in participants.split("</td>", 1)[1]  # demographics drive: 4 and 4
    rows = table.split('data-total="rows"')[1].split("</tr>")[0]
    assert ">6<" in rows  # one row per participant-session, both runs
    [created] = [e for e in events("query.run_created") if e.target_id == str(new_id)]
    assert created.details["rerun_of"] == run_id and created.details["versions"]["cognitive"][0] == 2

    original = steward.get(f"/queries/runs/{run_id}/").content.decode()
    assert f"Run #{new_id}" in original.split("data-reruns")[1]
    api_rerun = steward_api.post(f"/api/v1/queries/{run_id}/rerun?latest=true")
    assert api_rerun.status_code == 202
    assert steward.get(f"/queries/runs/{new_id}/compare/999999/").status_code == 404


def test_version_page_shows_who_used_it_stewards_see_everyone(
    browser, api, steward_api, tenant_a, study, execute, django_capture_on_commit_callbacks
) -> None:
    analyst_api = api(tenant_a, "analyst")
    mine = _page_run(analyst_api, execute, django_capture_on_commit_callbacks, {"columns": {"flanker": ["accuracy"]}})
    analyst_api.get(f"/api/v1/queries/{mine}/export?format=parquet&purpose=Thesis%20chapter%203")
    theirs = _page_run(steward_api, execute, django_capture_on_commit_callbacks, {"columns": {"flanker": ["accuracy"]}})

    steward = browser("steward")
    page = steward.get("/studies/memory/datasets/flanker/versions/1/").content.decode()
    assert "Every run and export that used this version" in page
    assert f'data-run="{mine}"' in page and f'data-run="{theirs}"' in page
    assert "Thesis chapter 3" in page and analyst_api.user.email in page and "parquet" in page

    analyst = browser("analyst", user=analyst_api.user)
    own = analyst.get("/studies/memory/datasets/flanker/versions/1/").content.decode()
    assert "Your runs and exports that used this version" in own
    assert f'data-run="{mine}"' in own and f'data-run="{theirs}"' not in own
    assert analyst.get("/studies/memory/datasets/flanker/versions/9/").status_code == 404
    assert browser("viewer").get("/studies/memory/datasets/flanker/versions/1/").status_code == 403

    steward_api.delete("/api/v1/studies/memory/datasets/flanker")
    tombstone = steward.get("/studies/memory/datasets/flanker/versions/1/").content.decode()
    assert "deleted dataset" in tombstone and f'data-run="{mine}"' in tombstone
    run_page = steward.get(f"/queries/runs/{mine}/").content.decode()
    assert "deleted dataset" in run_page.split('data-pin="flanker"')[1].split("</tr>")[0]


def test_rerun_after_the_cache_was_emptied_fetches_from_storage(steward_api, study_ro, execute, tenant_a) -> None:
    spec = {"columns": {"cognitive": ["working_memory", "note"], "flanker": ["accuracy"]}, "shape": "wide"}
    run_id = steward_api.post("/api/v1/studies/memory/queries", spec).json()["id"]
    assert execute(run_id) == "succeeded"
    original = steward_api.get(f"/api/v1/queries/{run_id}").json()
    with tenant_context(tenant_a):
        pinned = list(DatasetVersion.objects.filter(run_links__run_id=run_id))
    connection.set_schema_to_public()
    cached = [cache_dir() / f"{version.parquet_sha256}.parquet" for version in pinned]
    assert len(cached) == 3 and all(path.exists() for path in cached)
    for path in cached:
        path.unlink()  # the worker's cache is gone (a new worker, a cleaned disk)

    again = steward_api.post(f"/api/v1/queries/{run_id}/rerun").json()["id"]
    assert execute(again) == "succeeded"
    rerun = steward_api.get(f"/api/v1/queries/{again}").json()
    assert rerun["result_sha256"] == original["result_sha256"] and rerun["rerun_of"] == run_id
    assert all(path.exists() for path in cached)  # fetched from storage and checked against their sha256


def test_a_failed_change_writes_no_audit_event(steward_api, study, tenant_a, events) -> None:
    before = len(events("dataset.deleted"))
    with tenant_context(tenant_a):
        dataset = Dataset.objects.get(name="flanker")
        steward = steward_api.user
        with pytest.raises(RuntimeError), transaction.atomic():
            dataset_delete(tenant=tenant_a, actor=steward, dataset=dataset)
            raise RuntimeError("the surrounding change failed")
        assert Dataset.objects.filter(name="flanker").exists()
    connection.set_schema_to_public()
    assert len(events("dataset.deleted")) == before
    refused = steward_api.delete("/api/v1/studies/memory/datasets/demographics")  # refused inside the service
    assert refused.status_code == 409 and len(events("dataset.deleted")) == before
