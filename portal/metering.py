"""Metering as it happens: every audit event a workspace writes is looked at once, in the transaction of the change
(so a rolled-back change meters nothing), and the day's counters or gauges of its workspace are updated.

Counted: ``query.count`` (counts), ``query.run_created`` (runs), ``query.exported`` (exports), a finished run's
seconds on a worker (compute). Gauges after each change: storage bytes and datasets (a version registered or
deleted), members (added or removed).
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.models import AuditEvent
from tenants.models import Membership, Tenant
from tenants.quotas import day_start

COUNTERS = {"query.count": "counts", "query.run_created": "runs", "query.exported": "exports"}
RUN_FINISHED = {"query.run_succeeded", "query.run_failed", "query.run_cancelled"}
STORAGE_CHANGED = {"dataset_version.created", "dataset_version.deleted", "dataset.deleted"}
MEMBERS_CHANGED = {"member.added", "member.removed", "tenant.created"}
_COLUMNS = ("counts", "runs", "exports", "compute_seconds", "storage_bytes", "datasets", "members")


def usage_add(*, tenant_id: int, **values: Any) -> None:
    """Add counters and set gauges of today's row of a workspace (one statement; concurrent writers add up)."""
    counters = {key: values.get(key, 0) for key in ("counts", "runs", "exports", "compute_seconds")}
    gauges = {key: values.get(key) for key in ("storage_bytes", "datasets", "members")}
    updates = [f"{key} = public.portal_usageday.{key} + EXCLUDED.{key}" for key in counters]
    updates += [f"{key} = COALESCE(EXCLUDED.{key}, public.portal_usageday.{key})" for key in gauges]
    columns = ", ".join(_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO public.portal_usageday (tenant_id, day, {columns}) "  # noqa: S608 - fixed column names
            f"VALUES (%s, %s, {', '.join(['%s'] * len(_COLUMNS))}) "
            f"ON CONFLICT (tenant_id, day) DO UPDATE SET {', '.join(updates)}",
            [tenant_id, day_start().date(), *counters.values(), *gauges.values()],
        )


def _tenant_id(schema_name: str) -> int | None:
    current = getattr(connection, "tenant", None)
    if current is not None and getattr(current, "schema_name", None) == schema_name and getattr(current, "pk", None):
        return int(current.pk)
    return Tenant.objects.filter(schema_name=schema_name).values_list("pk", flat=True).first()


def storage_gauges() -> dict[str, int]:
    """Storage bytes and live datasets of the current workspace schema."""
    from datasets.models import Dataset
    from datasets.storage import storage_used_bytes

    return {"storage_bytes": storage_used_bytes(), "datasets": Dataset.objects.count()}


def _run_seconds(run_id: str) -> float:
    from queries.models import QueryRun

    run = QueryRun.objects.filter(pk=run_id).values("started_at", "finished_at", "reused_from_id").first()
    if run is None or run["reused_from_id"] or not run["started_at"] or not run["finished_at"]:
        return 0.0
    return max(0.0, (run["finished_at"] - run["started_at"]).total_seconds())


def usage_for_event(action: str, target_id: str, tenant_id: int) -> dict[str, Any]:
    """What one audit event adds to its workspace's usage (empty when nothing)."""
    if action in COUNTERS:
        return {COUNTERS[action]: 1}
    if action in RUN_FINISHED and target_id.isdigit():
        seconds = _run_seconds(target_id)
        return {"compute_seconds": seconds} if seconds else {}
    if action in STORAGE_CHANGED:
        return storage_gauges()
    if action in MEMBERS_CHANGED:
        return {"members": Membership.objects.filter(tenant_id=tenant_id).count()}
    return {}


@receiver(post_save, sender=AuditEvent, dispatch_uid="portal.metering")
def _metered(sender: type[AuditEvent], instance: AuditEvent, created: bool, **kwargs: Any) -> None:
    schema = getattr(connection, "schema_name", "public")
    if not created or schema == "public":
        return
    if instance.action not in COUNTERS and instance.action not in RUN_FINISHED | STORAGE_CHANGED | MEMBERS_CHANGED:
        return
    tenant_id = _tenant_id(schema)
    if tenant_id is None:
        return
    values = usage_for_event(instance.action, instance.target_id, tenant_id)
    if values:
        usage_add(tenant_id=tenant_id, **values)
