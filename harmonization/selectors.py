"""Reads of harmonized variables (every member of the workspace reads them)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.errors import NotFound
from harmonization.models import AccessInquiry, HarmonizedVariable
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role


def variable_list_for_user(*, user: Any, tenant: Tenant) -> QuerySet[HarmonizedVariable]:
    """The workspace's variables, by name."""
    role_require(user=user, tenant=tenant, minimum=Role.VIEWER)
    return HarmonizedVariable.objects.order_by("name")


def variable_get_for_user(*, user: Any, tenant: Tenant, name: str) -> HarmonizedVariable:
    """One variable by name, or 404."""
    found = variable_list_for_user(user=user, tenant=tenant).filter(name=name).first()
    if found is None:
        raise NotFound("No such variable.")
    return found


def variable_history(variable: HarmonizedVariable) -> list[dict[str, Any]]:
    """Every revision of a variable, newest first (who changed it, when, and the definition then)."""
    return [
        {
            "revision": entry.revision,
            "at": entry.history_date,
            "by": entry.updated_by.email if entry.updated_by_id else None,
            "change": {"+": "created", "~": "changed", "-": "deleted"}.get(entry.history_type, entry.history_type),
            "definition": {
                "name": entry.name,
                "type": entry.type,
                "label": entry.label,
                "unit": entry.unit,
                "sources": entry.sources,
            },
        }
        for entry in variable.history.select_related("updated_by").order_by("-history_date", "-history_id")
    ]


def inquiry_list_for_user(*, user: Any, tenant: Tenant) -> QuerySet[AccessInquiry]:
    """Requests left by catalog visitors (owners and stewards)."""
    role_require(user=user, tenant=tenant, minimum=Role.STEWARD, action="see requests from the catalog")
    return AccessInquiry.objects.select_related("study").order_by("-created_at")
