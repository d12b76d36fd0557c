"""Celery tasks of the tenants app (thin: ids in, one service call)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from audit.models import AuditEvent
from audit.services import current_schema_name


@shared_task(name="tenants.tasks.tenant_worker_check")
def tenant_worker_check() -> dict[str, Any]:
    """Report which schema the worker ran in and what it sees there (used by ``worker_check``)."""
    return {
        "schema": current_schema_name(),
        "audit_events": AuditEvent.objects.count(),
        "latest_actions": list(AuditEvent.objects.order_by("-id").values_list("action", flat=True)[:20]),
    }
