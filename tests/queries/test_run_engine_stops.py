"""Runs on a big committed study: the timeout, cancel during a run and a killed worker stop the engine work."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.models import IngestStatus, Study
from datasets.services import ingest_file_sync, study_create
from datasets.storage import work_root
from queries.models import QueryRun, RunStatus
from queries.run_queue import run_enqueue
from queries.run_worker import query_run_execute
from queries.services import query_run_cancel, query_run_create, query_runs_reap
from tenants.models import Tenant
from tenants.services import membership_set, tenant_create, user_get_or_create
from tests.worker import worker_children, worker_start, worker_stop

pytestmark = pytest.mark.worker


@pytest.fixture(scope="module")
def heavy(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: Any) -> dict[str, Any]:
    """A committed tenant with a study big enough that a wide run takes seconds."""
    folder = tmp_path_factory.mktemp("heavy")
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT lpad(CAST(p AS VARCHAR), 7, '0') AS pid, s.ses AS session, 20 + (p % 60) + 0.5 AS age,
                  CASE WHEN p % 2 = 0 THEN 'A' ELSE 'B' END AS site
                  FROM range(400000) r(p), (VALUES ('BAS1'), ('BAS2'), ('FU1')) s(ses))
            TO '{folder / "demo.csv"}' (HEADER)"""
    )
    con.execute(
        f"""COPY (SELECT lpad(CAST(p AS VARCHAR), 7, '0') AS pid, s.ses AS session, random() AS a, random() AS b,
                  random() AS c, random() AS d FROM range(400000) r(p), (VALUES ('BAS1'), ('BAS2'), ('FU1')) s(ses))
            TO '{folder / "m.csv"}' (HEADER)"""
    )
    with django_db_blocker.unblock():
        tenant = tenant_create(slug="lab-heavy", name="Lab Heavy", domain="lab-heavy.test").tenant
        user = user_get_or_create(email="heavy@lab.test", password="x")
        membership_set(tenant=tenant, user=user, role="steward")
        with tenant_context(tenant):
            study = Study.objects.filter(slug="big").first() or study_create(
                tenant=tenant,
                actor=None,
                slug="big",
                name="Big",
                id_column="pid",
                session_column="session",
                site_column="site",
                age_column="age",
            )
            for name, kind in (("demo", "demographics"), ("m", "measure")):
                if not study.datasets.filter(name=name).exists():
                    job = ingest_file_sync(study=study, path=folder / f"{name}.csv", dataset_name=name, kind=kind)
                    assert job.status == IngestStatus.SUCCEEDED, job.error_message
        connection.set_schema_to_public()
    return {"tenant": tenant, "user": user}


WIDE = {"columns": {"m": ["a", "b", "c", "d"]}, "shape": "wide"}


def _create(heavy: dict[str, Any], spec: dict[str, Any], *, enqueue: bool = False) -> QueryRun:
    study = Study.objects.get(slug="big")
    return query_run_create(
        tenant=heavy["tenant"], actor=heavy["user"], study=study, payload=spec, reuse=False, enqueue=enqueue
    )


def test_timeout_stops_the_engine_and_fails_the_run(heavy, django_db_blocker: Any) -> None:
    with django_db_blocker.unblock(), tenant_context(heavy["tenant"]):
        heavy["tenant"].settings = {"query_timeout_seconds": 1}
        Tenant.objects.filter(pk=heavy["tenant"].pk).update(settings=heavy["tenant"].settings)
        run = _create(heavy, WIDE)
        started = time.monotonic()
        status = query_run_execute(run.pk)
        elapsed = time.monotonic() - started
        run.refresh_from_db()
        heavy["tenant"].settings = {}
        Tenant.objects.filter(pk=heavy["tenant"].pk).update(settings={})
    connection.set_schema_to_public()
    assert status == RunStatus.FAILED and run.error_code == "timeout", run.error_message
    assert elapsed < 15  # the engine really stopped


def test_cancel_during_a_run_stops_the_engine_on_the_worker(heavy, celery_worker: Any, django_db_blocker: Any) -> None:
    with django_db_blocker.unblock(), tenant_context(heavy["tenant"]):
        run = _create(heavy, WIDE, enqueue=True)  # the real worker picks it up
        deadline = time.monotonic() + 60
        while QueryRun.objects.get(pk=run.pk).status == RunStatus.QUEUED and time.monotonic() < deadline:
            time.sleep(0.02)
        started = time.monotonic()
        cancelled = query_run_cancel(tenant=heavy["tenant"], actor=heavy["user"], run=run, wait_seconds=20)
        elapsed = time.monotonic() - started
    connection.set_schema_to_public()
    assert cancelled.status == RunStatus.CANCELLED, (cancelled.status, cancelled.error_message)
    assert cancelled.error_code == "cancelled" and elapsed < 10


def test_worker_killed_during_a_run_is_reaped(heavy, django_db_blocker: Any, test_db_name: str) -> None:
    from queries.tasks import query_run_execute_task

    with django_db_blocker.unblock(), tenant_context(heavy["tenant"]):
        run = _create(heavy, {**WIDE, "sites": ["B"]})
        QueryRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED)
        worker = worker_start(test_db_name, queues="run-kill-test", name="doomed-run")
        try:
            query_run_execute_task.apply_async(args=[run.pk], queue="run-kill-test")
            deadline = time.monotonic() + 60
            while QueryRun.objects.get(pk=run.pk).status != RunStatus.RUNNING and time.monotonic() < deadline:
                time.sleep(0.05)
            worker_stop(worker, kill=True)
        finally:
            worker_stop(worker, kill=True)
        assert QueryRun.objects.get(pk=run.pk).status == RunStatus.RUNNING
        assert query_runs_reap(stale_seconds=0) >= 1
        failed = QueryRun.objects.get(pk=run.pk)
    connection.set_schema_to_public()
    assert failed.status == RunStatus.FAILED and failed.error_code == "worker_lost"


def _finished(run_id: int, timeout: float = 90) -> QueryRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = QueryRun.objects.get(pk=run_id)
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still {QueryRun.objects.get(pk=run_id).status} after {timeout} s")


def _resident(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError):
        return 0


def test_a_run_over_the_worker_memory_budget_fails_alone(heavy, django_db_blocker: Any, test_db_name: str) -> None:
    """DuckDB may use 4 GB here, the worker child only 700 MB: the run escapes the engine's own limit, the guard
    stops it with resource_limit, its files are removed, and the same worker goes on serving."""
    env = {
        "BDT_WORKER_MEMORY_LIMIT": "700MB",
        "BDT_WORKER_ADDRESS_SPACE_LIMIT": "8GB",
        "BDT_DUCKDB_MEMORY_LIMIT": "4GB",
        "BDT_ENGINE_KILL_GRACE_SECONDS": "5",
    }
    worker = worker_start(test_db_name, queues="budget-test", name="budget", pool="prefork", env=env)
    try:
        first_children = set(worker_children(worker))
        for child in first_children:  # the kernel's ceiling is in force in every child
            limits = Path(f"/proc/{child}/limits").read_text()
            assert re.search(r"Max address space\s+8000000000\s", limits), limits
        with django_db_blocker.unblock(), tenant_context(heavy["tenant"]):
            run = _create(heavy, WIDE)
            run_enqueue(run, queue="budget-test")
            peak, children = 0, set()
            deadline = time.monotonic() + 90
            while QueryRun.objects.get(pk=run.pk).status in (RunStatus.QUEUED, RunStatus.RUNNING):
                assert time.monotonic() < deadline, "the run did not end"
                for child in worker_children(worker):
                    children.add(child)
                    peak = max(peak, _resident(child))
                time.sleep(0.05)
            failed = QueryRun.objects.get(pk=run.pk)
            assert failed.status == RunStatus.FAILED and failed.error_code == "resource_limit", failed.error_message
            assert "memory" in failed.error_message and "columns" in failed.error_message
            assert worker.poll() is None  # the worker itself is fine
            assert not list(work_root().glob(f"run-{run.pk}-*"))
            assert peak < 700_000_000 * 1.5, peak  # stopped near its budget, far from taking the machine down
            # a child left above half its budget after a task is replaced (worker_max_memory_per_child)
            deadline = time.monotonic() + 30
            while set(worker_children(worker)) & first_children and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not set(worker_children(worker)) & first_children
            # the next run on the same worker succeeds
            small = _create(heavy, {"participants": ["0000001", "0000002"], "columns": {"m": ["a"]}})
            run_enqueue(small, queue="budget-test")
            done = _finished(small.pk)
            assert done.status == RunStatus.SUCCEEDED, done.error_message
            assert done.row_count == 6
    finally:
        worker_stop(worker)
        connection.set_schema_to_public()
