"""Per-tenant usage counters, fed by the audit trail: every committed audit event counts once for its workspace.

The core knows no tenant model: the tenants app registers how a schema name becomes a workspace label
(:func:`schema_labeller_register`, called from its ``AppConfig.ready``)."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction

from core.monitoring import metrics
from core.monitoring.logs import tenant_label

_schema_labeller: Callable[[str], str | None] | None = None


def schema_labeller_register(labeller: Callable[[str], str | None]) -> None:
    """Register the function that names the workspace of a schema (its slug), or None when it has none."""
    global _schema_labeller
    _schema_labeller = labeller


def _tenant_for_schema(schema_name: str) -> str:
    current = getattr(connection, "tenant", None)
    if current is not None and getattr(current, "schema_name", None) == schema_name and hasattr(current, "slug"):
        return tenant_label(current)
    if schema_name == "public":
        return "platform"
    label = _schema_labeller(schema_name) if _schema_labeller is not None else None
    return label or schema_name


def tenant_action_count(*, action: str, schema_name: str) -> None:
    """Count ``action`` for the tenant of ``schema_name`` once the surrounding transaction commits."""
    tenant = _tenant_for_schema(schema_name)
    transaction.on_commit(lambda: metrics.tenant_actions.labels(tenant, action).inc())
