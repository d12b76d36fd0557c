"""A workspace's sharing profile: what analysts may do with a study nobody restricted or granted.

- lab: analysts may query and export every study by default (the platform default, ``export``);
- consortium: analysts see the catalog only (``metadata``) until a steward grants more.

The profile is the workspace's kind plus its ``analyst_default_level`` setting; owners change both at once here
(audited as ``tenant.profile_changed``, the setting change as ``tenant.settings_changed``). A study's own default
(the wizard's "who can see this study?") still wins over the profile for that study."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from audit.services import audit_event_record
from core.config import config_get
from core.errors import Conflict, InvalidInput
from sharing.selectors import contributions_holding_kind
from tenants.models import Tenant, WorkspaceKind
from tenants.role_checks import role_require
from tenants.roles import Role
from tenants.workspace_settings import tenant_settings_update

PROFILE_LEVEL = {WorkspaceKind.LAB: None, WorkspaceKind.CONSORTIUM: "metadata"}  # None: the platform default


@dataclass(frozen=True)
class SharingProfile:
    kind: str
    label: str
    analyst_default_level: str
    explanation: str


EXPLANATIONS = {
    WorkspaceKind.LAB: "Analysts may query and export every study unless a steward restricts it.",
    WorkspaceKind.CONSORTIUM: "Analysts see the catalog (metadata) of every study and get more only when a steward "
    "grants it, study by study or dataset by dataset.",
}


def sharing_profile(tenant: Tenant) -> SharingProfile:
    kind = WorkspaceKind(tenant.kind)
    return SharingProfile(
        kind=kind.value,
        label=kind.label,
        analyst_default_level=str(config_get("analyst_default_level", tenant)),
        explanation=EXPLANATIONS[kind],
    )


def sharing_profile_set(*, tenant: Tenant, actor: Any, kind: str, request: HttpRequest | None = None) -> Tenant:
    """Owners switch the workspace between lab and consortium; existing grants and study defaults stay."""
    role_require(user=actor, tenant=tenant, minimum=Role.OWNER, action="change the sharing profile")
    if kind not in WorkspaceKind.values:
        raise InvalidInput(f"Unknown profile {kind!r}; choose lab or consortium.", code="invalid_kind")
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if locked.kind != kind and contributions_holding_kind(locked):
            # A consortium that became a lab would stop applying the labs' ceilings and withdrawals to the studies
            # they shared with it (and could delete or re-offer them); a lab that became a consortium would leave
            # its open offers and contributions without a lab to govern them.
            raise Conflict(
                "This workspace takes part in sharing studies between workspaces (studies contributed to it, or "
                "offers and contributions it made), so its profile cannot change. Withdraw or decline them first; "
                "a consortium that accepted a study stays a consortium.",
                code="profile_fixed_by_sharing",
            )
        if locked.kind != kind:
            previous = locked.kind
            locked.kind = kind
            locked._history_user = actor  # type: ignore[attr-defined]
            locked.save(update_fields=["kind"])
            audit_event_record(
                action="tenant.profile_changed",
                actor=actor,
                request=request,
                target=locked,
                details={"from": previous, "to": kind},
                schema_name=locked.schema_name,
            )
        level = PROFILE_LEVEL[WorkspaceKind(kind)]
        if (locked.settings or {}).get("analyst_default_level") != level:
            locked = tenant_settings_update(
                tenant=locked, actor=actor, changes={"analyst_default_level": level}, request=request
            )
    tenant.kind, tenant.settings = locked.kind, locked.settings
    return locked
