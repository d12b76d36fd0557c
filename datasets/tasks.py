"""Celery tasks of the datasets app (queue ``ingest``): thin wrappers over one service each."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django_tenants.utils import get_tenant_model, tenant_context

from datasets.ingest_runner import ingest_job_execute, ingest_jobs_reap


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
