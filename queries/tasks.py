"""Celery tasks of the queries app: runs on the ``queries`` queue, the reaper on ``default``."""

from __future__ import annotations

from celery import shared_task
from django_tenants.utils import get_tenant_model, tenant_context

from queries.run_executor import DEFERRED, query_run_execute
from queries.services import query_runs_reap

RETRY_SECONDS = 2


@shared_task(name="queries.tasks.query_run_execute_task", bind=True, acks_late=True, max_retries=None)
def query_run_execute_task(self: object, run_id: int) -> str:
    """Execute a run; when the tenant is at its concurrency limit, wait in the queue and retry."""
    status = query_run_execute(run_id)
    if status == DEFERRED:
        raise self.retry(countdown=RETRY_SECONDS)  # type: ignore[attr-defined]
    return status


@shared_task(name="queries.tasks.query_runs_reap_all")
def query_runs_reap_all(stale_seconds: int = 180) -> int:
    """Beat: fail runs whose worker died, in every tenant."""
    reaped = 0
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            reaped += query_runs_reap(stale_seconds=stale_seconds)
    return reaped
