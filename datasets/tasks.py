"""Celery tasks of the datasets app (queue ``ingest``): thin wrappers over one service each."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone
from django_tenants.utils import get_tenant_model, tenant_context

from bdt_project.config import config_get
from datasets.ingest_runner import ingest_job_execute, ingest_jobs_reap
from datasets.storage import setup_uploads_purge


@shared_task(name="datasets.tasks.ingest_run", acks_late=True)
def ingest_run(job_id: int) -> str:
    """Execute one ingest job in the caller's tenant schema."""
    return str(ingest_job_execute(job_id).status)


@shared_task(name="datasets.tasks.ingest_reap_all")
def ingest_reap_all(stale_minutes: int = 5) -> int:
    """Beat: fail stale running ingests in every tenant (their worker died)."""
    reaped = 0
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            reaped += ingest_jobs_reap(stale_after=timedelta(minutes=stale_minutes))
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
