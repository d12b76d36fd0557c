"""Celery tasks of connectors: a sync run (queue ``ingest``) and the scheduler's beat over every workspace."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db import connection
from django.utils import timezone
from django_tenants.utils import get_tenant_model, tenant_context

from connectors.models import Sync, SyncRun, SyncRunStatus
from connectors.runs import sync_run_execute
from connectors.schedule import next_run
from core.errors import ApiError
from core.sent_markers import sent_mark
from datasets.models import IngestStatus
from tenants.suspension import workspace_frozen

logger = logging.getLogger(__name__)
STALE_PULL = timedelta(minutes=15)


@shared_task(name="connectors.tasks.sync_run_task", ignore_result=True)
def sync_run_task(run_id: int, schema: str | None = None) -> str:
    """Execute one sync run in the caller's tenant schema."""
    return str(sync_run_execute(run_id).status)


def sync_run_enqueue(run_id: int) -> None:
    """Send a run to the ``ingest`` queue (its schema travels with it)."""
    sync_run_task.apply_async(args=(run_id,), kwargs={"schema": str(connection.schema_name)})  # type: ignore[attr-defined]
    sent_mark("sync", run_id)


def _workspace_frozen() -> bool:
    """True when the current workspace is suspended or scheduled for deletion: nobody can govern what it would pull."""
    tenant = getattr(connection, "tenant", None)
    return tenant is not None and getattr(tenant, "pk", None) is not None and workspace_frozen(tenant)


def syncs_due() -> int:
    """Start the current workspace's scheduled syncs that are due; returns how many were started. A suspended
    workspace (or one scheduled for deletion) pulls nothing: its due syncs wait until it is resumed."""
    from connectors.services import sync_run_start

    if _workspace_frozen():
        return 0
    started = 0
    moment = timezone.now()
    for sync in Sync.objects.filter(next_run_at__lte=moment).exclude(schedule="").select_related("study"):
        Sync.objects.filter(pk=sync.pk).update(next_run_at=next_run(sync.schedule, moment))
        try:
            sync_run_start(tenant=connection.tenant, actor=None, sync=sync, trigger="schedule")  # type: ignore[attr-defined]
            started += 1
        except ApiError as exc:
            logger.warning("scheduled sync %s not started: %s", sync.pk, exc.code)
    return started


def sync_runs_reconcile() -> int:
    """Runs whose ingest job ended without them (worker lost, reaped) are failed, so the sync can run again."""
    count = 0
    stale = timezone.now() - STALE_PULL
    for run in SyncRun.objects.filter(status__in=[SyncRunStatus.QUEUED, SyncRunStatus.RUNNING]).select_related(
        "ingest"
    ):
        job = run.ingest
        lost = job is None or job.status == IngestStatus.FAILED
        lost = lost or (
            job is not None
            and job.status == IngestStatus.QUEUED
            and not job.staged_file
            and (job.heartbeat_at or job.created_at) < stale
        )
        if lost:
            SyncRun.objects.filter(pk=run.pk).update(
                status=SyncRunStatus.FAILED,
                error_code=(job.error_code if job is not None and job.error_code else "worker_lost"),
                error_message=(
                    job.error_message
                    if job is not None and job.error_message
                    else "The sync was interrupted (the worker stopped). Run it again."
                ),
                finished_at=timezone.now(),
            )
            if job is not None and job.status == IngestStatus.QUEUED:
                from datasets.ingest_runner import ingest_job_fail

                ingest_job_fail(job, "worker_lost", "The sync was interrupted (the worker stopped). Run it again.")
            count += 1
    return count


@shared_task(name="connectors.tasks.syncs_due_all")
def syncs_due_all() -> int:
    """Beat: start due scheduled syncs and reconcile interrupted runs in every workspace."""
    started = 0
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            try:
                sync_runs_reconcile()
                started += syncs_due()
            except Exception:
                logger.exception("scheduled syncs failed in %s", tenant.schema_name)
    return started
