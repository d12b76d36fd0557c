"""Run limits: concurrency per tenant and the row cap."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from queries.models import QueryRun, RunStatus
from queries.run_worker import DEFERRED, query_run_execute

pytestmark = pytest.mark.django_db


def test_runs_beyond_the_tenant_limit_wait_in_the_queue(steward_api, study_ro, execute, tenant_a) -> None:
    tenant_a.settings = {"max_concurrent_runs": 1}
    tenant_a.save(update_fields=["settings"])
    first = steward_api.post("/api/v1/studies/memory/queries", {}).json()["id"]
    second = steward_api.post("/api/v1/studies/memory/queries", {"sites": ["Discovery"]}).json()["id"]
    with tenant_context(tenant_a):
        QueryRun.objects.filter(pk=first).update(status=RunStatus.RUNNING)
        assert query_run_execute(second) == DEFERRED
        assert QueryRun.objects.get(pk=second).status == RunStatus.QUEUED
        QueryRun.objects.filter(pk=first).update(status=RunStatus.SUCCEEDED)
        assert query_run_execute(second) == RunStatus.SUCCEEDED


def test_row_cap_fails_the_run_with_a_clear_message(steward_api, study_ro, execute, tenant_a) -> None:
    tenant_a.settings = {"max_result_rows": 3}
    tenant_a.save(update_fields=["settings"])
    run_id = steward_api.post("/api/v1/studies/memory/queries", {}).json()["id"]
    assert execute(run_id) == "failed"
    run = steward_api.get(f"/api/v1/queries/{run_id}").json()
    assert run["error"]["code"] == "row_limit" and "3" in run["error"]["message"]
    assert steward_api.get(f"/api/v1/queries/{run_id}/rows").status_code == 409
