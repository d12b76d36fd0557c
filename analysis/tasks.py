"""Celery tasks of the analysis app (run in the caller's tenant schema by tenant-schemas-celery)."""

from __future__ import annotations

from celery import shared_task
from django.db import connection

from analysis.services import profile_job_execute


@shared_task(name="analysis.tasks.profile_job_execute_task")
def profile_job_execute_task(job_id: int) -> str:
    """Build a profile report."""
    return profile_job_execute(job_id, tenant=getattr(connection, "tenant", None))
