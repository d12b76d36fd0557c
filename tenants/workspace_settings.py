"""A workspace's settings overrides (``Tenant.settings``): read by members, changed by owners, audited and kept in
the configuration history (django-simple-history), so stewards can see what changed and who changed it."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from audit.services import audit_event_record
from core.config import SETTINGS, ConfigError, config_provider, tenant_settings_validate
from core.errors import InvalidInput
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role


def tenant_settings_for_user(*, user: Any, tenant: Tenant) -> dict[str, Any]:
    """Every overridable setting: its effective value, the workspace's override (or None) and its meaning."""
    role_require(user=user, tenant=tenant, minimum=Role.STEWARD, action="see the workspace settings")
    effective = config_provider().effective(tenant)
    overrides = tenant.settings or {}
    return {
        key: {"value": effective[key], "override": overrides.get(key), "doc": spec.doc}
        for key, spec in SETTINGS.items()
        if spec.tenant_override
    }


def tenant_settings_update(
    *, tenant: Tenant, actor: Any, changes: dict[str, Any], request: HttpRequest | None = None
) -> Tenant:
    """Set (or with ``None`` remove) overrides; owners only. Audited as ``tenant.settings_changed``."""
    role_require(user=actor, tenant=tenant, minimum=Role.OWNER, action="change the workspace settings")
    if not changes:
        raise InvalidInput("Name at least one setting to change.", code="no_changes")
    setting = {key: value for key, value in changes.items() if value is not None}
    try:
        cleaned = tenant_settings_validate(setting)
        tenant_settings_validate({key: SETTINGS[key].default if key in SETTINGS else None for key in changes})
    except ConfigError as exc:
        raise InvalidInput(f"Invalid setting: {exc}.", code="invalid_setting") from exc
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        current = dict(locked.settings or {})
        updated = {**current, **cleaned}
        for key in changes:
            if key not in setting:
                updated.pop(key, None)
        if updated == current:
            return locked
        changed = sorted(key for key in set(current) | set(updated) if current.get(key) != updated.get(key))
        locked.settings = updated
        locked._history_user = actor  # type: ignore[attr-defined]
        locked.save(update_fields=["settings"])
        audit_event_record(
            action="tenant.settings_changed",
            actor=actor,
            request=request,
            target_type="tenants.tenant",
            target_id=str(locked.pk),
            target_repr=locked.name,
            details={
                "from": {key: current.get(key) for key in changed},
                "to": {key: updated.get(key) for key in changed},
            },
            schema_name=locked.schema_name,
        )
    tenant.settings = locked.settings
    return locked
