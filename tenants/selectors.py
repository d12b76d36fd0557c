"""Reads for tenants, members and tokens, scoped to what the caller may see."""

from __future__ import annotations

from django.db.models import QuerySet

from tenants.models import ApiToken, Membership, Tenant, User


def membership_get(*, user: User, tenant: Tenant) -> Membership | None:
    """The user's membership in ``tenant``, or None."""
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, tenant=tenant).first()


def membership_list_for_user(*, user: User) -> QuerySet[Membership]:
    """Every tenant the user belongs to (for the tenant switcher)."""
    return (
        Membership.objects.filter(user=user)
        .exclude(tenant__schema_name="public")
        .select_related("tenant")
        .prefetch_related("tenant__domains")
        .order_by("tenant__name")
    )


def api_token_list_for_user(*, user: User, tenant: Tenant) -> QuerySet[ApiToken]:
    """The user's own tokens for ``tenant``, newest first."""
    return ApiToken.objects.filter(user=user, tenant=tenant).order_by("-created_at")


def api_token_get_for_user(*, user: User, tenant: Tenant, token_id: int) -> ApiToken | None:
    """One of the user's own tokens for ``tenant`` (None for anyone else's)."""
    return ApiToken.objects.filter(user=user, tenant=tenant, pk=token_id).select_related("user", "tenant").first()
