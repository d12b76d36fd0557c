"""Celery signal handlers: log context for every task, and the outcome, duration and memory peak of query runs and
ingests (read from their row after the task, so the executors themselves stay free of monitoring code)."""

from __future__ import annotations

import logging
import resource
import sys
from contextvars import Token
from dataclasses import dataclass
from typing import Any

from celery.signals import task_postrun, task_prerun

from core.monitoring import metrics
from core.monitoring.logs import LogContext, log_context_reset, log_context_set, tenant_label

logger = logging.getLogger(__name__)

RUN_TASK = "queries.tasks.query_run_execute_task"
INGEST_TASK = "datasets.tasks.ingest_run"
FINISHED = {"succeeded", "failed", "cancelled"}


@dataclass(frozen=True)
class _Tracked:
    kind: str  # "query_run" | "ingest"
    schema: str
    tenant: str
    object_id: int
    status_before: str


_log_tokens: dict[str, Token[LogContext | None]] = {}
_tracked: dict[str, _Tracked] = {}


def _schema_of(task: Any) -> str:
    headers = getattr(task.request, "headers", None) or {}
    return str(headers.get("_schema_name") or getattr(task.request, "_schema_name", None) or "public")


def _model_for(kind: str) -> Any:
    if kind == "query_run":
        from queries.models import QueryRun

        return QueryRun
    from datasets.models import IngestJob

    return IngestJob


def _row(kind: str, schema: str, object_id: int) -> dict[str, Any] | None:
    from django_tenants.utils import schema_context

    with schema_context(schema):
        return (
            _model_for(kind)
            .objects.filter(pk=object_id)
            .values("status", "error_code", "created_at", "started_at", "finished_at")
            .first()
        )


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux reports KiB


@task_prerun.connect(dispatch_uid="bdt_monitoring_prerun")
def _task_started(task_id: str, task: Any, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    from django.db import connection

    schema = _schema_of(task)
    current = getattr(connection, "schema_name", "")
    tenant = tenant_label(getattr(connection, "tenant", None)) if current == schema else schema
    _log_tokens[task_id] = log_context_set(LogContext(task=f"{task.name}[{task_id}]", tenant=tenant))
    kind = {RUN_TASK: "query_run", INGEST_TASK: "ingest"}.get(task.name)
    if kind is None or not args:
        return
    try:
        row = _row(kind, schema, int(args[0]))
        if row is not None:
            _tracked[task_id] = _Tracked(kind, schema, tenant, int(args[0]), str(row["status"]))
    except Exception:
        logger.warning("metrics: could not read %s %s before the task", kind, args[0], exc_info=True)


@task_postrun.connect(dispatch_uid="bdt_monitoring_postrun")
def _task_finished(task_id: str, task: Any, **_: Any) -> None:
    tracked = _tracked.pop(task_id, None)
    try:
        if tracked is not None:
            _record(tracked)
    except Exception:
        logger.warning("metrics: could not record the outcome of task %s", task_id, exc_info=True)
    finally:
        token = _log_tokens.pop(task_id, None)
        if token is not None:
            log_context_reset(token)


def _record(tracked: _Tracked) -> None:
    """Count a run or ingest that this task brought to an end (not one that was already finished)."""
    row = _row(tracked.kind, tracked.schema, tracked.object_id)
    if row is None or row["status"] not in FINISHED or tracked.status_before in FINISHED:
        return
    outcome, code = str(row["status"]), str(row["error_code"] or "")
    tenant = tracked.tenant
    started, finished = row["started_at"], row["finished_at"]
    seconds = (finished - started).total_seconds() if started and finished else None
    peak = float(_peak_rss_bytes())
    if tracked.kind == "query_run":
        metrics.query_runs_finished.labels(tenant, outcome, code).inc()
        if seconds is not None:
            metrics.query_run_duration.labels(outcome).observe(max(0.0, seconds))
        if started is not None:
            metrics.query_run_wait.observe(max(0.0, (started - row["created_at"]).total_seconds()))
    else:
        metrics.ingests_finished.labels(tenant, outcome, code).inc()
        if seconds is not None:
            metrics.ingest_duration.labels(outcome).observe(max(0.0, seconds))
    metrics.engine_memory_peak.labels(tracked.kind).observe(peak)
    metrics.engine_memory_peak_max.labels(tracked.kind).set(peak)
