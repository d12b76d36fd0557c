"""Budgets at the API: estimates refuse what cannot fit (422, saying what to change) before any engine work, and
admission limits answer 429/503 with Retry-After while everyone else is served."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from core.admission import interactive_slot
from core.config import config_reset
from queries.models import QueryRun
from queries.run_queue import run_priority

pytestmark = pytest.mark.django_db

PARTICIPANTS, SESSIONS, VALUES = 10, 1500, 8


def _wide_csv() -> str:
    """The incident's shape: 10 participants with 1,500 sessions each, 8 value columns."""
    header = "participant_id,session," + ",".join(f"m{i}" for i in range(VALUES))
    lines = [header]
    for p in range(PARTICIPANTS):
        for s in range(SESSIONS):
            lines.append(f"P{p:02d},S{s}," + ",".join(str((p * 7 + s * 3 + i) % 97) for i in range(VALUES)))
    return "\n".join(lines) + "\n"


@pytest.fixture
def wide_study(make_study: Any, upload: Any) -> str:
    make_study("sessions")
    _, ingest = upload("sessions", _wide_csv(), "demographics", kind="demographics")
    assert ingest["status"] == "succeeded", ingest
    return "sessions"


def _settings(tenant: Any, **values: Any) -> None:
    tenant.settings = {**(tenant.settings or {}), **values}
    tenant.save(update_fields=["settings"])


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["code"] == code and body["message"] and isinstance(body["details"], dict)
    return body


def test_the_incident_wide_run_is_refused_up_front_and_a_near_limit_one_succeeds(
    steward_api: Any, wide_study: str, tenant_a: Any, execute: Any
) -> None:
    """Sizes scaled for CI: a workspace allowing 10,000 cells (the full-width run itself is tested at the engine
    level and on the live stack)."""
    _settings(tenant_a, max_result_cells=10_000)
    spec = {"shape": "wide", "sessions": [f"S{s}" for s in range(SESSIONS)]}
    body = _error(steward_api.post(f"/api/v1/studies/{wide_study}/queries", spec), 422, "too_large")
    assert "10 participants x 12,001 columns" in body["message"] and "at most 124 sessions" in body["message"]
    assert body["details"]["cells"] == 120_010 and body["details"]["max_cells"] == 10_000
    with tenant_context(tenant_a):
        assert not QueryRun.objects.exists()  # refused before anything was queued
    connection.set_schema_to_public()

    near = {"shape": "wide", "sessions": [f"S{s}" for s in range(124)]}  # 10 x 993 = 9,930 cells
    created = steward_api.post(f"/api/v1/studies/{wide_study}/queries", near)
    assert created.status_code == 202, created.content
    assert execute(created.json()["id"]) == "succeeded"
    run = steward_api.get(f"/api/v1/queries/{created.json()['id']}").json()
    assert run["row_count"] == 10 and len(run["columns"]) == 1 + VALUES * 124


def test_long_runs_are_sized_rows_times_columns(steward_api: Any, study_ro: str, tenant_a: Any) -> None:
    _settings(tenant_a, max_result_cells=20)  # the study's 6 rows x 5 columns = 30 cells
    body = _error(steward_api.post(f"/api/v1/studies/{study_ro}/queries", {}), 422, "too_large")
    assert "6 rows x 5 columns" in body["message"] and "participant or session list" in body["message"]
    narrowed = steward_api.post(f"/api/v1/studies/{study_ro}/queries", {"sessions": ["FU1"]})  # 3 x 5 = 15 cells
    assert narrowed.status_code == 202, narrowed.content


def test_a_report_over_the_work_budget_is_refused_before_any_engine_work(
    steward_api: Any, study_ro: str, tenant_a: Any
) -> None:
    """The incident's 200-filter report is one scan now and answers; over a small work budget it is refused at once,
    with a size that fits, which answers."""
    filters = [{"dataset": "demographics", "column": "age", "op": "gt", "value": i % 50} for i in range(200)]
    assert steward_api.post(f"/api/v1/studies/{study_ro}/report", {"filters": filters}).status_code == 200
    _settings(tenant_a, interactive_max_work=10_000_000)  # costed on at least 200,000 rows: 49 filters fit
    body = _error(steward_api.post(f"/api/v1/studies/{study_ro}/report", {"filters": filters}), 422, "too_large")
    fit = body["details"]["conditions_that_fit"]
    assert f"at most {fit} filters" in body["message"] and "run the query" in body["message"]
    near = steward_api.post(f"/api/v1/studies/{study_ro}/report", {"filters": filters[:fit]})
    assert near.status_code == 200, near.content
    assert len(near.json()["steps"]) == fit + 1
    # a live count of the same 200 filters is one pass over the rows and answers
    assert steward_api.post(f"/api/v1/studies/{study_ro}/count", {"filters": filters}).status_code == 200


def test_interactive_id_lists_are_shorter_than_run_id_lists(steward_api: Any, study_ro: str, tenant_a: Any) -> None:
    _settings(tenant_a, interactive_max_participants=3)
    ids = {"participants": ["001", "002", "003", "004"]}
    body = _error(steward_api.post(f"/api/v1/studies/{study_ro}/count", ids), 422, "too_large")
    assert "participants" in body["message"].lower()
    assert steward_api.post(f"/api/v1/studies/{study_ro}/queries", ids).status_code == 202


def _fresh() -> dict[str, Any]:
    """A spec no other test counted (a cached count needs no engine work, so it is never limited)."""
    return {"filters": [{"dataset": "demographics", "column": "age", "op": "gt", "value": next(_ages)}]}


_ages = itertools.count(1000)


@contextlib.contextmanager
def _busy(tenant: Any, user: Any, times: int) -> Iterator[None]:
    """``times`` interactive operations of ``user`` in progress (as other requests would hold them)."""
    with contextlib.ExitStack() as stack:
        for _ in range(times):
            stack.enter_context(interactive_slot(tenant=tenant, user=user))
        yield


def test_one_member_flooding_live_answers_gets_429_and_others_are_served(
    api: Any, study_ro: str, tenant_a: Any
) -> None:
    flooder, other = api(tenant_a, "analyst"), api(tenant_a, "analyst")
    with _busy(tenant_a, flooder.user, 2):  # interactive_per_user = 2 in progress
        refused = flooder.post(f"/api/v1/studies/{study_ro}/count", _fresh())
        body = _error(refused, 429, "too_many_concurrent")
        assert refused["Retry-After"] == "2" and body["details"] == {"limit": 2, "scope": "user"}
        report = flooder.post(f"/api/v1/studies/{study_ro}/report", _fresh())
        _error(report, 429, "too_many_concurrent")
        assert other.post(f"/api/v1/studies/{study_ro}/count", _fresh()).status_code == 200
    assert flooder.post(f"/api/v1/studies/{study_ro}/count", _fresh()).status_code == 200


def test_a_workspace_has_its_own_limit(api: Any, study_ro: str, tenant_a: Any) -> None:
    _settings(tenant_a, interactive_per_tenant=2)
    first, second, third = (api(tenant_a, "analyst") for _ in range(3))
    with _busy(tenant_a, first.user, 1), _busy(tenant_a, second.user, 1):
        body = _error(third.post(f"/api/v1/studies/{study_ro}/count", _fresh()), 429, "too_many_concurrent")
        assert body["details"]["scope"] == "workspace"


@pytest.fixture
def one_engine_slot(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BDT_WEB_ENGINE_SLOTS", "1")
    monkeypatch.setenv("BDT_WEB_ENGINE_WAIT_SECONDS", "0.2")
    config_reset()
    yield
    monkeypatch.undo()
    config_reset()


def test_a_busy_web_process_answers_503_and_health_stays_up(
    api: Any, client: Any, study_ro: str, tenant_a: Any, one_engine_slot: None
) -> None:
    caller, holder = api(tenant_a, "analyst"), api(tenant_a, "analyst")
    with _busy(tenant_a, holder.user, 1):  # the process's only engine slot is taken
        response = caller.post(f"/api/v1/studies/{study_ro}/count", _fresh())
        _error(response, 503, "busy")
        assert response["Retry-After"] == "2"
        cached_free = client.get("/api/v1/health")
        assert cached_free.status_code == 200 and cached_free.json()["status"] == "ok"
    assert caller.post(f"/api/v1/studies/{study_ro}/count", _fresh()).status_code == 200


def test_queued_runs_per_member_and_per_workspace(api: Any, study_ro: str, tenant_a: Any) -> None:
    _settings(tenant_a, max_queued_runs_per_user=2, max_queued_runs=3)
    alice, bob = api(tenant_a, "analyst"), api(tenant_a, "analyst")
    for site in ("Discovery", "Neurofeedback"):
        assert alice.post(f"/api/v1/studies/{study_ro}/queries", {"sites": [site]}).status_code == 202
    refused = alice.post(f"/api/v1/studies/{study_ro}/queries", {"sites": ["Longitudinal_Adult"]})
    body = _error(refused, 429, "too_many_runs")
    assert refused["Retry-After"] == "2" and body["details"]["scope"] == "user"
    # joining her own identical run in flight queues nothing new, so it is allowed
    assert alice.post(f"/api/v1/studies/{study_ro}/queries", {"sites": ["Discovery"]}).status_code == 202
    assert bob.post(f"/api/v1/studies/{study_ro}/queries", {}).status_code == 202
    body = _error(bob.post(f"/api/v1/studies/{study_ro}/queries", {"sessions": ["FU1"]}), 429, "too_many_runs")
    assert body["details"]["scope"] == "workspace"
    with tenant_context(tenant_a):
        assert QueryRun.objects.count() == 3
    connection.set_schema_to_public()


def test_a_workspaces_runs_get_priorities_by_how_many_wait_before_them(api: Any, study_ro: str, tenant_a: Any) -> None:
    caller = api(tenant_a, "analyst")
    ids = [caller.post(f"/api/v1/studies/{study_ro}/queries", {"sites": [s]}).json()["id"] for s in ("A", "B", "C")]
    with tenant_context(tenant_a):
        runs = [QueryRun.objects.get(pk=pk) for pk in ids]
        assert [run_priority(run) for run in runs] == [0, 1, 2]
        QueryRun.objects.filter(pk=ids[0]).update(status="succeeded")
        assert run_priority(runs[2]) == 1  # finished runs no longer count
    connection.set_schema_to_public()


def test_a_count_with_too_many_list_values_in_total_is_refused_before_any_sql(steward_api: Any, study_ro: str) -> None:
    """Each list value becomes SQL: 3 lists of 10,000 values (each list within its own limit) are over the 20,000
    values a spec may hold in all, and are refused (422 naming the limit) before anything is compiled."""
    values = [f"v{i}" for i in range(10_000)]
    big = [{"dataset": "demographics", "column": "sex", "op": "in", "value": values} for _ in range(3)]
    body = _error(
        steward_api.post(f"/api/v1/studies/{study_ro}/count?dropoff=true", {"filters": big}), 422, "too_large"
    )
    assert "20,000" in body["message"] and "in total" in body["message"]
    assert body["details"] == {"list_values": 30_000, "max_list_values_total": 20_000}
    fits = steward_api.post(f"/api/v1/studies/{study_ro}/count", {"filters": big[:2]})
    assert fits.status_code == 200, fits.content


def test_a_huge_spec_is_audited_by_its_hash_and_size_not_in_full(
    steward_api: Any, study_ro: str, tenant_a: Any
) -> None:
    """Each count is audited; a spec over 64 KB (here about 250 KB of list values) is recorded by its hash and size,
    so a flood of huge counts cannot bloat the audit chain, while an ordinary spec stays recorded in full."""
    from audit.models import AuditEvent
    from queries.core.spec import spec_hash

    values = [f"value-{i:06d}-{'x' * 4}" for i in range(12_000)]
    huge = {
        "filters": [
            {"dataset": "demographics", "column": "sex", "op": "in", "value": values[:6_000]},
            {"dataset": "demographics", "column": "site", "op": "not_in", "value": values[6_000:]},
        ]
    }
    small = {"filters": [{"dataset": "demographics", "column": "sex", "op": "in", "value": ["F"]}]}
    for spec in (huge, small):
        assert steward_api.post(f"/api/v1/studies/{study_ro}/count", spec).status_code == 200
    with tenant_context(tenant_a):
        recorded = list(AuditEvent.objects.filter(action="query.count").order_by("-id")[:2])
    connection.set_schema_to_public()
    small_event, huge_event = (event.details for event in recorded)
    assert huge_event["spec"] is None and huge_event["spec_truncated"] is True
    assert huge_event["spec_bytes"] > 64 * 1024 and huge_event["spec_hash"] == spec_hash(huge)
    assert small_event["spec"]["filters"] == small["filters"] and "spec_truncated" not in small_event
    assert small_event["spec_hash"] == spec_hash(small)
