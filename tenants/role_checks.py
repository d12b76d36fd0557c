"""Role checks for services: who may do what in a tenant, before any dataset-level permission.

The membership lookup lives here (not in ``tenants.selectors``) so the selectors can call the checks without a
cycle."""

from __future__ import annotations

from typing import Any

from core.errors import Forbidden, NotFound
from tenants.models import Membership, Tenant
from tenants.roles import Role, role_at_least
from tenants.token_scopes import scope_level_cap

_REMEMBERED = "_bdt_membership"
_TOKEN_SCOPE = "_bdt_token_scope"  # noqa: S105 - an attribute name


def membership_remember(user: Any, membership: Membership) -> None:
    """Keep the membership that authentication looked up on the request's user object, so the role checks of the
    same request reuse it instead of querying again (user objects are loaded per request)."""
    setattr(user, _REMEMBERED, membership)


def token_scope_remember(user: Any, scope: str) -> None:
    """Remember, for the rest of the request, the scope of the token the user authenticated with."""
    setattr(user, _TOKEN_SCOPE, scope)


def level_cap_for(user: Any) -> str | None:
    """The access level the caller's token caps them at this request (None: no token or a full one)."""
    return scope_level_cap(getattr(user, _TOKEN_SCOPE, None))


def membership_get(*, user: Any, tenant: Tenant) -> Membership | None:
    """The user's membership in ``tenant``, or None."""
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, tenant=tenant).first()


def membership_for(*, user: Any, tenant: Tenant) -> Membership | None:
    """The user's membership in ``tenant``: the one remembered for this request, else looked up."""
    remembered = getattr(user, _REMEMBERED, None)
    if remembered is not None and remembered.tenant_id == tenant.pk and remembered.user_id == user.pk:
        return remembered  # type: ignore[no-any-return]
    return membership_get(user=user, tenant=tenant)


def role_require(*, user: Any, tenant: Tenant, minimum: str, action: str = "do this") -> Membership:
    """The caller's membership if their role is at least ``minimum``; 404 for non-members, 403 for low roles."""
    membership = membership_for(user=user, tenant=tenant)
    if membership is None:
        raise NotFound()
    if not role_at_least(membership.role, minimum):
        raise Forbidden(
            f"Your role ({membership.role}) may not {action}; it needs {Role(minimum).label.lower()} or above.",
            code="role_insufficient",
        )
    return membership
