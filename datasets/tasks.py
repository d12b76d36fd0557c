"""Celery tasks of the datasets app (queue ``ingest``): thin wrappers over one service each.

An ingest whose worker child dies (out of memory, killed) is failed at once by the worker's main process through
``task_failure``; the reaper is the last resort when the whole worker is gone.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from billiard.exceptions import WorkerLostError
from celery import shared_task, signals
from django.db import connections
from django.utils import timezone
from django_tenants.utils import get_tenant_model, schema_context, tenant_context

from core.config import config_get
from datasets.ingest_runner import ingest_job_execute, ingest_job_lost, ingest_jobs_reap, ingest_jobs_resend
from datasets.storage import setup_uploads_purge

logger = logging.getLogger(__name__)


@shared_task(name="datasets.tasks.ingest_run", ignore_result=True)
def ingest_run(job_id: int, schema: str | None = None) -> str:
    """Execute one ingest job in the caller's tenant schema (``schema`` is for the worker's main process)."""
    return str(ingest_job_execute(job_id).status)


@signals.task_failure.connect(sender=ingest_run)
def _ingest_task_lost(
    sender: Any = None, exception: BaseException | None = None, args: Any = None, kwargs: Any = None, **_: Any
) -> None:
    """In the worker's main process: the child running an ingest died."""
    schema = (kwargs or {}).get("schema")
    if not isinstance(exception, WorkerLostError) or not args or not schema:
        return
    try:
        with schema_context(schema):
            ingest_job_lost(int(args[0]))
    except Exception:
        logger.exception("could not record the end of ingest %s in %s", args[0], schema)
    finally:
        connections.close_all()


@shared_task(name="datasets.tasks.ingest_reap_all")
def ingest_reap_all(stale_minutes: int = 5, queued_after_seconds: int = 60) -> int:
    """Beat: fail stale running ingests (their worker died) and send again queued ones whose message Redis lost,
    in every tenant."""
    reaped = 0
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            reaped += ingest_jobs_reap(stale_after=timedelta(minutes=stale_minutes))
            try:
                ingest_jobs_resend(older_than=timedelta(seconds=queued_after_seconds))
            except Exception:
                logger.exception("ingest queue recovery failed in %s", tenant.schema_name)
    return reaped


@shared_task(name="datasets.tasks.setup_uploads_purge_all")
def setup_uploads_purge_all() -> int:
    """Beat: delete abandoned setup-wizard uploads in every tenant (after ``setup_upload_retention_hours``)."""
    removed = 0
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        hours = config_get("setup_upload_retention_hours", tenant)
        with tenant_context(tenant):
            removed += setup_uploads_purge(older_than=timedelta(hours=hours), now=timezone.now())
    return removed
