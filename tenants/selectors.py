"""Reads for tenants, members and tokens, scoped to what the caller may see."""

from __future__ import annotations

from django.db.models import QuerySet

from tenants.emails import email_verified_q
from tenants.models import ApiToken, Invitation, Membership, Tenant, User
from tenants.role_checks import role_require
from tenants.roles import Role, role_at_least


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
    """The tenant's invitations (steward or owner only), newest first; the pending ones whose link still works
    unless ``pending_only=False``."""
    role_require(user=user, tenant=tenant, minimum=Role.STEWARD, action="list invitations")
    invitations = list(Invitation.objects.filter(tenant=tenant).select_related("invited_by").order_by("-created_at"))
    return (
        invitations_inviter_may_make([i for i in invitations if i.status == "pending"]) if pending_only else invitations
    )


def invitations_inviter_may_make(invitations: list[Invitation]) -> list[Invitation]:
    """Those of ``invitations`` their inviter could still make now (one query): an active account, a member of the
    invitation's workspace with the role it needs (steward; owner for an owner invitation). An invitation lives no
    longer than that right, however it was lost (a removal and a role change also withdraw it; a deactivated or
    deleted account, an edit outside the members API do not pass there)."""
    inviters = {i.invited_by_id for i in invitations if i.invited_by_id is not None}
    roles: dict[tuple[int | None, int], str] = {
        (user_id, tenant_id): role
        for user_id, tenant_id, role in Membership.objects.filter(
            user_id__in=inviters, user__is_active=True, tenant_id__in={i.tenant_id for i in invitations}
        ).values_list("user_id", "tenant_id", "role")
    }

    def may(invitation: Invitation) -> bool:
        role = roles.get((invitation.invited_by_id, invitation.tenant_id))
        needed = Role.OWNER if invitation.role == Role.OWNER else Role.STEWARD
        return role is not None and role_at_least(role, needed)

    return [invitation for invitation in invitations if may(invitation)]


def tenant_slug_for_schema(schema_name: str) -> str | None:
    """The slug of the workspace whose schema is ``schema_name`` (None for none): its label in metrics."""
    return Tenant.objects.filter(schema_name=schema_name).values_list("slug", flat=True).first()
