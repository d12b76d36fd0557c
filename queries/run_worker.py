"""Executes a QueryRun on a worker: pinned versions -> engine -> Parquet result in storage.

A :class:`~core.work_guard.WorkGuard` thread sends heartbeats, turns a cancel request (a flag in the
database, so any web process can set it) into ``engine.cancel()``, and keeps the run inside its budget: at
``query_timeout_seconds`` (counted from the start of the run) or when the worker child's resident memory passes
``worker_memory_limit`` it interrupts the engine; if the engine is stuck in native code and has not stopped
``engine_kill_grace_seconds`` later, it marks the run failed (``timeout`` / ``resource_limit``), removes its files
and kills the worker child (the Celery main process replaces it). Every outcome is written once: a run leaves
``running`` through exactly one of these paths.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.db import connection, connections
from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.services import audit_event_record
from core.budgets import engine_budget, process_role, setting_bytes
from core.config import config_get
from core.errors import STORAGE_FULL_MESSAGE, ApiError, disk_full
from core.reconnect import connection_lost, with_reconnect
from core.work_guard import Reason, WorkGuard
from datasets.storage import copy_local_into_cache, file_sha256, storage_delete, storage_save, work_root
from queries.core.engines.contract import EngineCancelled, EngineError, EngineTimeout, RowLimitExceeded
from queries.core.engines.sql_engine import SqlEngine
from queries.core.spec import spec_parse
from queries.execution import engine_create, query_prepare
from queries.models import QueryRun, RunStatus
from tenants.models import Tenant
from tenants.suspension import WORK_OF_SUSPENDED_WORKSPACE, workspace_frozen

logger = logging.getLogger(__name__)
DEFERRED = "deferred"
WORKER_LOST = "The worker running this query stopped. Run it again."
DATABASE_LOST = "The database restarted while the query ran; nothing was kept. Run it again."
RESOURCE_LIMIT = (
    "The query needed more memory than a worker may use and was stopped. Select fewer columns or sessions, narrow "
    "the filters, or add a participant list."
)


def run_result_name(run: QueryRun) -> str:
    """Storage name of a run's result file."""
    from datasets.storage import tenant_prefix

    return f"{tenant_prefix()}runs/{run.pk}/result.parquet"


def timeout_message(seconds: float) -> str:
    return f"The query ran longer than the limit of {seconds:g} s and was stopped. Narrow it or ask for more time."


def run_finish(run: QueryRun, status: str, code: str = "", message: str = "", **fields: Any) -> bool:
    """Move a running run to its final state (once: False if it had already left ``running``) and audit it."""
    updated = QueryRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=status, error_code=code, error_message=message, finished_at=timezone.now(), **fields
    )
    if not updated:
        return False
    action = {"succeeded": "query.run_succeeded", "cancelled": "query.run_cancelled"}.get(status, "query.run_failed")
    audit_event_record(
        action=action,
        actor=run.created_by,
        target=run,
        details={"code": code, **fields} if code else {"rows": fields.get("row_count")},
    )
    return True


def _fail_for(run: QueryRun, reason: Reason, timeout: float) -> None:
    if reason == "resource_limit":
        run_finish(run, RunStatus.FAILED, "resource_limit", RESOURCE_LIMIT)
    elif reason == "cancelled" and workspace_frozen(connection.tenant):  # type: ignore[attr-defined]
        run_finish(run, RunStatus.FAILED, "workspace_suspended", WORK_OF_SUSPENDED_WORKSPACE)
    elif reason == "cancelled":
        run_finish(run, RunStatus.CANCELLED, "cancelled", "The run was cancelled.")
    else:
        run_finish(run, RunStatus.FAILED, "timeout", timeout_message(timeout))


def _stop_asked(run: QueryRun, tenant: Tenant) -> bool:
    """Whether the run is to stop: its cancellation was asked for, or its workspace was suspended meanwhile."""
    return QueryRun.objects.filter(pk=run.pk, cancel_requested=True).exists() or workspace_frozen(tenant)


def _guard(run: QueryRun, engine: SqlEngine, tenant: Any, work_dir: Path, timeout: float) -> WorkGuard:
    """The run's guard; its callbacks use the guard thread's own connection in the run's tenant."""

    def in_tenant(action: Any) -> Any:
        def call(*args: Any) -> Any:
            with tenant_context(tenant):
                return action(*args)

        return call

    def killed(reason: Reason) -> None:
        _fail_for(run, reason, timeout)
        shutil.rmtree(work_dir, ignore_errors=True)
        shutil.rmtree(engine_budget().spill_directory, ignore_errors=True)

    return WorkGuard(
        name=f"run-{run.pk}",
        interrupt=lambda reason: engine.cancel(),
        on_kill=in_tenant(killed),
        grace_seconds=float(config_get("engine_kill_grace_seconds")),
        deadline_seconds=timeout,
        memory_limit_bytes=setting_bytes("worker_memory_limit") if process_role() == "worker" else None,
        cancelled=in_tenant(lambda: _stop_asked(run, tenant)),
        heartbeat=in_tenant(lambda: QueryRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())),
        on_exit=connections.close_all,
    )


def query_run_execute(run_id: int) -> str:
    """Run one queued QueryRun; returns its final status, or ``deferred`` when the tenant is at its run limit."""
    run = QueryRun.objects.select_related("study", "study__demographics").get(pk=run_id)
    if run.status == RunStatus.RUNNING:
        run_finish(run, RunStatus.FAILED, "worker_lost", WORKER_LOST)
        return RunStatus.FAILED
    if run.status != RunStatus.QUEUED:
        return str(run.status)
    tenant: Tenant = connection.tenant  # type: ignore[attr-defined]  # the task runs in its run's tenant schema
    limit = int(config_get("max_concurrent_runs", tenant))
    if QueryRun.objects.filter(status=RunStatus.RUNNING).count() >= limit:
        return DEFERRED
    now = timezone.now()
    if not QueryRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now
    ):
        return str(QueryRun.objects.get(pk=run.pk).status)
    if workspace_frozen(tenant):  # suspended since the run was queued: its work is not started
        run_finish(run, RunStatus.FAILED, "workspace_suspended", WORK_OF_SUSPENDED_WORKSPACE)
        return RunStatus.FAILED
    timeout = float(config_get("query_timeout_seconds", tenant))
    work_dir = Path(tempfile.mkdtemp(prefix=f"run-{run.pk}-", dir=work_root()))
    engine: SqlEngine | None = None
    guard: WorkGuard | None = None
    outcome: tuple[str, str, str] | Reason | None = None  # a failure, recorded after the clean-up
    try:
        versions = {pin.dataset_name: pin.version for pin in run.pinned.select_related("version__dataset")}
        prepared = query_prepare(tenant=tenant, study=run.study, spec=spec_parse(run.spec), versions=versions)
        engine = engine_create(
            run.study,
            timeout_s=timeout,
            max_rows=int(config_get("max_result_rows", tenant)),
            max_cells=int(config_get("max_result_cells", tenant)),
        )
        guard = _guard(run, engine, tenant, work_dir, timeout)
        guard.start()
        if _stop_asked(run, tenant):
            raise EngineCancelled("The run was cancelled.")
        out = work_dir / "result.parquet"
        result = engine.run(prepared.validated, prepared.catalog, out)
        if guard.reason is not None:  # stopped by the guard right as the engine finished
            raise EngineCancelled()
        name = run_result_name(run)
        sha, size = file_sha256(out), out.stat().st_size  # before the save: nothing after it may fail and leave it
        with open(out, "rb") as handle:
            storage_save(name, handle, replace_orphan=True)
        copy_local_into_cache(out, sha)  # best effort: a missed cache is fetched from storage on first use
        if not with_reconnect(
            lambda: run_finish(
                run,
                RunStatus.SUCCEEDED,
                row_count=result.row_count,
                columns=list(result.columns),
                column_types=list(result.types),
                result_file=name,
                result_sha256=sha,
                result_size=size,
            )
        ):
            storage_delete([name])  # the run was failed meanwhile: its result is not kept
    except (EngineCancelled, EngineTimeout) as exc:
        reason = guard.reason if guard is not None and guard.reason else None
        outcome = reason or ("timeout" if isinstance(exc, EngineTimeout) else "cancelled")
    except RowLimitExceeded as exc:
        message = f"The result has more than {exc.limit:,} rows, the limit of this workspace. Narrow the filters."
        outcome = (RunStatus.FAILED, "row_limit", message)
    except EngineError as exc:
        if exc.code == "resource_limit":
            outcome = "resource_limit"
        else:
            outcome = (RunStatus.FAILED, exc.code or "engine_error", exc.message)
    except ApiError as exc:  # e.g. study_keys_invalid: the study no longer fits the pinned data
        outcome = (RunStatus.FAILED, exc.code, exc.message)
    except MemoryError:
        logger.error("query run %s hit the worker's address-space ceiling", run.pk)
        outcome = "resource_limit"
    except Exception as exc:
        if disk_full(exc):
            logger.error("query run %s: storage full", run.pk)
            outcome = (RunStatus.FAILED, "storage_full", f"{STORAGE_FULL_MESSAGE} Run the query again later.")
        elif connection_lost(exc):
            logger.error("query run %s: database connection lost", run.pk)
            outcome = (RunStatus.FAILED, "database_unavailable", DATABASE_LOST)
        else:
            logger.exception("query run %s failed unexpectedly", run.pk)
            message = "The query failed because of an internal error. It was logged."
            outcome = (RunStatus.FAILED, "internal_error", message)
    finally:
        if guard is not None:
            guard.finish()
        if engine is not None:
            engine.close()
        shutil.rmtree(work_dir, ignore_errors=True)  # files first, so a failed run never leaves any behind
        if isinstance(outcome, tuple):
            failure = outcome
            with_reconnect(lambda: run_finish(run, *failure))
        elif outcome is not None:
            reason = outcome
            with_reconnect(lambda: _fail_for(run, reason, timeout))
    return str(with_reconnect(lambda: QueryRun.objects.get(pk=run.pk).status))
