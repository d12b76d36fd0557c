"""Per-tenant usage counters, fed by the audit trail: every committed audit event counts once for its workspace."""

from __future__ import annotations

from django.db import connection, transaction

from bdt_project.monitoring import metrics
from bdt_project.monitoring.logs import tenant_label


def _tenant_for_schema(schema_name: str) -> str:
    current = getattr(connection, "tenant", None)
    if current is not None and getattr(current, "schema_name", None) == schema_name and hasattr(current, "slug"):
        return tenant_label(current)
    if schema_name == "public":
        return "platform"
    from tenants.models import Tenant

    return Tenant.objects.filter(schema_name=schema_name).values_list("slug", flat=True).first() or schema_name


def tenant_action_count(*, action: str, schema_name: str) -> None:
    """Count ``action`` for the tenant of ``schema_name`` once the surrounding transaction commits."""
    tenant = _tenant_for_schema(schema_name)
    transaction.on_commit(lambda: metrics.tenant_actions.labels(tenant, action).inc())
