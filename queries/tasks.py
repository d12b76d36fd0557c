"""Celery tasks of the queries app: runs on the ``queries`` queue, the reaper on ``default``.

A run task that never reports back (its worker child was killed: out of memory, the guard, an operator; or it
passed Celery's hard time limit) is failed at once by the worker's main process through ``task_failure``, with
``worker_lost`` or ``timeout``; the reaper is the last resort when the whole worker is gone.
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery import shared_task, signals
from django.db import connections
from django_tenants.utils import get_tenant_model, schema_context, tenant_context

from core.config import config_get
from datasets.storage import work_root
from queries.participant_stores import participant_store_build as participant_store_build_here
from queries.run_queue import run_queue_recover
from queries.run_worker import DEFERRED, WORKER_LOST, query_run_execute, run_finish, timeout_message
from queries.services import query_runs_reap

logger = logging.getLogger(__name__)
RETRY_SECONDS = 2


@shared_task(
    name="queries.tasks.query_run_execute_task",
    bind=True,
    ignore_result=True,
    max_retries=None,
    time_limit=int(config_get("run_hard_time_limit_seconds")),
)
def query_run_execute_task(self: object, run_id: int, schema: str | None = None) -> str:
    """Execute a run; when the tenant is at its concurrency limit, wait in the queue and retry. (``schema`` is
    for the worker's main process, which fails the run if this task's child dies.)"""
    status = query_run_execute(run_id)
    if status == DEFERRED:
        raise self.retry(countdown=RETRY_SECONDS)  # type: ignore[attr-defined]
    return status


@signals.task_failure.connect(sender=query_run_execute_task)
def _run_task_lost(
    sender: Any = None, exception: BaseException | None = None, args: Any = None, kwargs: Any = None, **_: Any
) -> None:
    """In the worker's main process: the child running a run died or passed the hard time limit."""
    if not isinstance(exception, WorkerLostError | TimeLimitExceeded) or not args:
        return  # failures inside the task are recorded by the executor itself
    schema = (kwargs or {}).get("schema")
    if not schema:
        return
    from queries.models import QueryRun, RunStatus

    for leftover in work_root().glob(f"run-{int(args[0])}-*"):  # the child could not clean up after itself
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        with schema_context(schema):
            run = QueryRun.objects.filter(pk=args[0], status=RunStatus.RUNNING).first()
            if run is not None:
                if isinstance(exception, TimeLimitExceeded):
                    run_finish(run, RunStatus.FAILED, "timeout", timeout_message(float(exception.args[0] or 0)))
                else:
                    run_finish(run, RunStatus.FAILED, "worker_lost", WORKER_LOST)
    except Exception:
        logger.exception("could not record the end of run %s in %s", args[0], schema)
    finally:
        connections.close_all()  # the main process forks new children: it keeps no connection open


@shared_task(name="queries.tasks.query_runs_reap_all")
def query_runs_reap_all(stale_seconds: int = 180, queued_after_seconds: int = 30) -> int:
    """Beat: fail runs whose worker died, and send again queued runs whose queue message was lost (queued for
    ``queued_after_seconds`` without a marker), in every tenant."""
    reaped = 0
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            reaped += query_runs_reap(stale_seconds=stale_seconds)
            try:
                run_queue_recover(older_than_seconds=queued_after_seconds)
            except Exception:
                logger.exception("queue recovery failed in %s", tenant.schema_name)
    return reaped


@shared_task(name="queries.tasks.participant_store_build", ignore_result=True)
def participant_store_build(study_id: int, schema: str | None = None) -> str:
    """Build the participant index store of a study's latest versions on this worker (queue ``ingest``; runs in
    the caller's tenant schema)."""
    return participant_store_build_here(study_id)
