"""Role checks for services: who may do what in a tenant, before any dataset-level permission."""

from __future__ import annotations

from typing import Any

from bdt_project.errors import Forbidden, NotFound
from tenants.models import Membership, Tenant
from tenants.roles import Role, role_at_least
from tenants.selectors import membership_get


def role_require(*, user: Any, tenant: Tenant, minimum: str, action: str = "do this") -> Membership:
    """The caller's membership if their role is at least ``minimum``; 404 for non-members, 403 for low roles."""
    membership = membership_get(user=user, tenant=tenant)
    if membership is None:
        raise NotFound()
    if not role_at_least(membership.role, minimum):
        raise Forbidden(
            f"Your role ({membership.role}) may not {action}; it needs {Role(minimum).label.lower()} or above.",
            code="role_insufficient",
        )
    return membership
