"""Operators' changes to a workspace: its quotas (the tenant row; owners cannot change them)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from audit.services import audit_workspace_event
from core.errors import InvalidInput
from tenants.models import Tenant

QUOTA_FIELDS = {
    "storage_bytes": "quota_storage_bytes",
    "members": "quota_members",
    "runs_per_day": "quota_runs_per_day",
}


def workspace_quota_set(
    *, tenant: Tenant, changes: dict[str, int | None], actor: Any = None, request: HttpRequest | None = None
) -> Tenant:
    """Set quotas (``None`` removes one); audited as ``tenant.quota_changed`` in both chains."""
    unknown = set(changes) - set(QUOTA_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown quota {sorted(unknown)[0]!r}.", code="invalid_quota")
    for key, value in changes.items():
        if value is not None and (not isinstance(value, int) or value < 0):
            raise InvalidInput(f"The {key} quota must be a whole number of at least 0.", code="invalid_quota")
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        before = {key: getattr(locked, field) for key, field in QUOTA_FIELDS.items() if key in changes}
        for key, value in changes.items():
            setattr(locked, QUOTA_FIELDS[key], value)
        locked.save(update_fields=[QUOTA_FIELDS[key] for key in changes])
        audit_workspace_event(
            locked,
            action="tenant.quota_changed",
            actor=actor,
            request=request,
            details={"from": before, "to": dict(changes)},
        )
    for key in changes:
        setattr(tenant, QUOTA_FIELDS[key], getattr(locked, QUOTA_FIELDS[key]))
    return locked
