"""Celery tasks of harmonization: workers finish federated runs without anyone reading them.

Each part of a federated run is an ordinary run; when its task ends (``harmonization.receivers``) the federated runs
waiting on it are advanced by :func:`federated_run_advance_task`, in the workspace of the part (tenant-schemas-celery
carries the schema). The one to see every part finished stacks the result; the others find it finished. The sweep
(beat, every minute) catches parts that ended without a task of theirs: a queued run cancelled, a run the reaper
failed after its worker died.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django_tenants.utils import get_tenant_model, tenant_context

from harmonization.runs import federated_run_advance, federated_runs_advance

logger = logging.getLogger(__name__)


@shared_task(name="harmonization.tasks.federated_run_advance", ignore_result=True)
def federated_run_advance_task(federated_id: int) -> str:
    """Advance one federated run in the caller's workspace; its status."""
    return federated_run_advance(federated_id)


@shared_task(name="harmonization.tasks.federated_runs_advance_all")
def federated_runs_advance_all() -> int:
    """Beat: advance every unfinished federated run of every workspace; how many finished."""
    finished = 0
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        try:
            with tenant_context(tenant):
                finished += federated_runs_advance()
        except Exception:
            logger.exception("federated runs of %s could not be advanced", tenant.schema_name)
    return finished
