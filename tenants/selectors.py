"""Reads for tenants, members and tokens, scoped to what the caller may see."""

from __future__ import annotations

from django.db.models import QuerySet

from tenants.emails import email_verified_q
from tenants.models import ApiToken, Invitation, Membership, Tenant, User
from tenants.role_checks import role_require
from tenants.roles import Role


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
    return ApiToken.objects.filter(user=user, tenant=tenant).select_related("parent").order_by("-created_at")


def api_token_get_for_user(*, user: User, tenant: Tenant, token_id: int) -> ApiToken | None:
    """One of the user's own tokens for ``tenant`` (None for anyone else's)."""
    return ApiToken.objects.filter(user=user, tenant=tenant, pk=token_id).select_related("user", "tenant").first()


def membership_get_by_email(*, tenant: Tenant, email: str, verified_only: bool = True) -> Membership | None:
    """The membership in ``tenant`` of the user with ``email`` (case-insensitive), with its user; None for unknown
    addresses and for people who are not members of ``tenant`` (callers answer both with the same 404).

    By default the member must hold ``email`` verified: an address counts for grants, teams and roles only once its
    owner proved it. ``verified_only=False`` finds a member by the sign-in address shown in the members list even
    when it is unverified, so stewards can still look at and remove such a member."""
    address = (email or "").strip()
    if not address:
        return None
    memberships = Membership.objects.select_related("user").filter(tenant=tenant, user__email__iexact=address)
    if verified_only:
        memberships = memberships.filter(email_verified_q("user__"))
    return memberships.order_by("pk").first()


def member_list_for_user(*, user: User, tenant: Tenant) -> QuerySet[Membership]:
    """The tenant's members (steward or owner only), by e-mail, each with ``email_verified``."""
    role_require(user=user, tenant=tenant, minimum=Role.STEWARD, action="list members")
    return (
        Membership.objects.filter(tenant=tenant)
        .select_related("user")
        .annotate(email_verified=email_verified_q("user__"))
        .order_by("user__email")
    )


def invitation_list_for_user(*, user: User, tenant: Tenant, pending_only: bool = True) -> list[Invitation]:
    """The tenant's invitations (steward or owner only), newest first; pending ones unless ``pending_only=False``."""
    role_require(user=user, tenant=tenant, minimum=Role.STEWARD, action="list invitations")
    invitations = list(Invitation.objects.filter(tenant=tenant).select_related("invited_by").order_by("-created_at"))
    return [i for i in invitations if i.status == "pending"] if pending_only else invitations


def tenant_slug_for_schema(schema_name: str) -> str | None:
    """The slug of the workspace whose schema is ``schema_name`` (None for none): its label in metrics."""
    return Tenant.objects.filter(schema_name=schema_name).values_list("slug", flat=True).first()
