"""Executes a QueryRun on a worker: pinned versions -> engine -> Parquet result in storage.

A watcher thread sends heartbeats and turns a cancel request (a flag in the database, so any web process can set
it) into ``engine.cancel()``, which stops the database work itself.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from django.db import connection, connections
from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.services import audit_event_record
from bdt_project.config import config_get
from bdt_project.errors import ApiError
from datasets.storage import copy_local_into_cache, file_sha256, storage_save, work_root
from queries.engines.base import EngineCancelled, EngineError, EngineTimeout, RowLimitExceeded
from queries.engines.duckdb_engine import DuckDBEngine
from queries.engines.postgres_engine import PostgresEngine
from queries.execution import engine_create, query_prepare
from queries.models import QueryRun, RunStatus

logger = logging.getLogger(__name__)
POLL_SECONDS = 0.25
HEARTBEAT_EVERY = 4  # polls between heartbeats (~1 s)
DEFERRED = "deferred"


def run_result_name(run: QueryRun) -> str:
    """Storage name of a run's result file."""
    from datasets.storage import tenant_prefix

    return f"{tenant_prefix()}runs/{run.pk}/result.parquet"


class _Watcher(threading.Thread):
    """Heartbeats, and cancels the engine when the run's cancel flag is set."""

    def __init__(self, run_id: int, engine: DuckDBEngine | PostgresEngine, tenant: Any) -> None:
        super().__init__(daemon=True, name=f"run-{run_id}-watcher")
        self.run_id, self.engine, self.tenant = run_id, engine, tenant
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            with tenant_context(self.tenant):
                polls = 0
                while not self.stopped.wait(POLL_SECONDS):
                    polls += 1
                    if polls % HEARTBEAT_EVERY == 0:
                        QueryRun.objects.filter(pk=self.run_id).update(heartbeat_at=timezone.now())
                    if QueryRun.objects.filter(pk=self.run_id, cancel_requested=True).exists():
                        self.engine.cancel()
                        return
        except Exception:
            logger.exception("watcher of run %s stopped", self.run_id)
        finally:
            connections.close_all()


def _finish(run: QueryRun, status: str, code: str = "", message: str = "", **fields: Any) -> None:
    QueryRun.objects.filter(pk=run.pk).update(
        status=status, error_code=code, error_message=message, finished_at=timezone.now(), **fields
    )
    action = {"succeeded": "query.run_succeeded", "cancelled": "query.run_cancelled"}.get(status, "query.run_failed")
    audit_event_record(
        action=action,
        actor=run.created_by,
        target=run,
        details={"code": code, **fields} if code else {"rows": fields.get("row_count")},
    )


def query_run_execute(run_id: int) -> str:
    """Run one queued QueryRun; returns its final status, or ``deferred`` when the tenant is at its run limit."""
    run = QueryRun.objects.select_related("study", "study__demographics").get(pk=run_id)
    if run.status == RunStatus.RUNNING:
        _finish(run, RunStatus.FAILED, "worker_lost", "The worker running this query stopped. Run it again.")
        return RunStatus.FAILED
    if run.status != RunStatus.QUEUED:
        return str(run.status)
    tenant = getattr(connection, "tenant", None)
    limit = int(config_get("max_concurrent_runs", tenant))
    if QueryRun.objects.filter(status=RunStatus.RUNNING).count() >= limit:
        return DEFERRED
    now = timezone.now()
    if not QueryRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now
    ):
        return str(QueryRun.objects.get(pk=run.pk).status)
    timeout = float(config_get("query_timeout_seconds", tenant))
    work_dir = Path(tempfile.mkdtemp(prefix=f"run-{run.pk}-", dir=work_root()))
    engine: DuckDBEngine | PostgresEngine | None = None
    watcher: _Watcher | None = None
    try:
        versions = {pin.dataset_name: pin.version for pin in run.pinned.select_related("version__dataset")}
        prepared = query_prepare(run.study, run.spec, versions=versions)
        engine = engine_create(run.study, timeout_s=timeout, max_rows=int(config_get("max_result_rows", tenant)))
        watcher = _Watcher(run.pk, engine, tenant)
        watcher.start()
        if QueryRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
            raise EngineCancelled("The run was cancelled.")
        out = work_dir / "result.parquet"
        result = engine.run(prepared.validated, prepared.catalog, out)
        name = run_result_name(run)
        with open(out, "rb") as handle:
            storage_save(name, handle, replace_orphan=True)
        sha = file_sha256(out)
        copy_local_into_cache(out, sha)
        _finish(
            run,
            RunStatus.SUCCEEDED,
            row_count=result.row_count,
            columns=list(result.columns),
            column_types=list(result.types),
            result_file=name,
            result_sha256=sha,
            result_size=out.stat().st_size,
        )
    except EngineCancelled:
        _finish(run, RunStatus.CANCELLED, "cancelled", "The run was cancelled.")
    except EngineTimeout:
        _finish(
            run, RunStatus.FAILED, "timeout", f"The query ran longer than the limit of {timeout:g} s and was stopped."
        )
    except RowLimitExceeded as exc:
        _finish(
            run,
            RunStatus.FAILED,
            "row_limit",
            f"The result has more than {exc.limit:,} rows, the limit of this workspace. Narrow the filters.",
        )
    except EngineError as exc:
        _finish(run, RunStatus.FAILED, exc.code or "engine_error", exc.message)
    except ApiError as exc:  # e.g. study_keys_invalid: the study no longer fits the pinned data
        _finish(run, RunStatus.FAILED, exc.code, exc.message)
    except Exception:
        logger.exception("query run %s failed unexpectedly", run.pk)
        _finish(
            run, RunStatus.FAILED, "internal_error", "The query failed because of an internal error. It was logged."
        )
    finally:
        if watcher is not None:
            watcher.stopped.set()
            watcher.join(timeout=5)
        if engine is not None:
            engine.close()
        shutil.rmtree(work_dir, ignore_errors=True)
    return str(QueryRun.objects.get(pk=run.pk).status)
