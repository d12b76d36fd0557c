"""Self-service workspaces on the platform host: who may create one, creating it, and a person's workspaces."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import audit_event_record
from core.config import config_get
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from tenants.emails import user_email_verified
from tenants.hosts import host_url, workspace_host
from tenants.models import Invitation, Membership, Tenant, User, WorkspaceKind, frozen_q
from tenants.roles import Role
from tenants.selectors import invitations_inviter_may_make
from tenants.services import PUBLIC_SLUG, membership_set, tenant_create

logger = logging.getLogger(__name__)

CREATION_POLICIES = ("anyone", "invited", "domains")
# Host labels a workspace may not take (they name the platform's own services or would confuse people).
RESERVED_SLUGS = {PUBLIC_SLUG, "www", "api", "admin", "mail", "static", "media", "app", "status", "operator", "help"}


def creation_policy() -> str:
    policy = str(config_get("workspace_creation")).strip().lower()
    if policy not in CREATION_POLICIES:
        logger.warning("unknown workspace_creation policy %r: only invited people may create workspaces", policy)
        return "invited"
    return policy


def creation_allowed(user: Any) -> tuple[bool, str]:
    """Whether ``user`` may create a workspace under the platform's policy, and if not, why (a sentence)."""
    if not getattr(user, "is_authenticated", False):
        return False, "Sign in to create a workspace."
    if not user_email_verified(user):
        return False, "Confirm your e-mail address first (the link in the mail we sent you)."
    policy = creation_policy()
    if policy == "anyone" or user.is_staff:
        return True, ""
    if policy == "invited":
        if Membership.objects.filter(user=user).exclude(tenant__schema_name="public").exists():
            return True, ""
        return False, "On this platform, new workspaces are created by people invited to it. Ask the operators."
    domains = {d.strip().lower().lstrip("@") for d in str(config_get("workspace_creation_domains")).split(",")}
    if user.email.rsplit("@", 1)[-1].lower() in domains - {""}:
        return True, ""
    return False, "On this platform, only people of approved organisations (by e-mail domain) create workspaces."


def workspace_create(
    *, user: User, slug: str, name: str, kind: str = WorkspaceKind.LAB, request: HttpRequest | None = None
) -> Tenant:
    """Create a workspace at ``<slug>.<workspace domain>`` with ``user`` as its owner.

    403 ``workspace_creation_closed`` when the platform's policy does not let ``user`` create workspaces; 422 for a
    bad slug, name or kind; 409 ``workspace_exists`` when the slug or its host is taken."""
    allowed, why = creation_allowed(user)
    if not allowed:
        raise Forbidden(why, code="workspace_creation_closed")
    slug = (slug or "").strip().lower()
    if slug in RESERVED_SLUGS:
        raise InvalidInput(f"The address {slug!r} is reserved; choose another.", code="invalid_slug")
    if kind not in WorkspaceKind.values:
        raise InvalidInput(
            f"Unknown workspace kind {kind!r}; choose one of: {', '.join(WorkspaceKind.values)}.", code="invalid_kind"
        )
    if not (name or "").strip() or len(name.strip()) > 200:
        raise InvalidInput("Give the workspace a name of 1-200 characters.", code="invalid_name")
    owned = Membership.objects.filter(user=user, role=Role.OWNER).exclude(tenant__schema_name="public").count()
    most = int(config_get("workspaces_per_person"))
    if not user.is_staff and owned >= most:
        raise Conflict(
            f"You already own {owned} workspaces, the most one person may own here ({most}). Hand one over or ask "
            "the platform operators.",
            code="workspace_limit",
        )
    if Tenant.objects.filter(slug=slug).exists():
        raise Conflict(f"The workspace address {slug!r} is taken; choose another.", code="workspace_exists")
    result = tenant_create(
        slug=slug, name=name.strip(), domain=workspace_host(slug), kind=kind, actor=user, request=request
    )
    if not result.created:  # a concurrent request took the slug first
        raise Conflict(f"The workspace address {slug!r} is taken; choose another.", code="workspace_exists")
    membership_set(tenant=result.tenant, user=user, role=Role.OWNER, actor=user, request=request)
    return result.tenant


@dataclass(frozen=True)
class WorkspaceEntry:
    slug: str
    name: str
    kind: str
    role: str
    url: str
    suspended: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "kind": self.kind,
            "role": self.role,
            "url": self.url,
            "suspended": self.suspended,
        }


def workspace_url(tenant: Tenant, request: HttpRequest | None) -> str:
    return host_url(tenant.primary_domain_name() or workspace_host(tenant.slug), request)


def workspace_list_for_user(*, user: User, request: HttpRequest | None = None) -> list[WorkspaceEntry]:
    """Every workspace ``user`` belongs to, with their role and its address, by name."""
    memberships = (
        Membership.objects.filter(user=user)
        .exclude(tenant__schema_name="public")
        .select_related("tenant")
        .prefetch_related("tenant__domains")
        .order_by("tenant__name")
    )
    return [
        WorkspaceEntry(
            slug=m.tenant.slug,
            name=m.tenant.name,
            kind=m.tenant.kind,
            role=m.role,
            url=workspace_url(m.tenant, request),
            suspended=m.tenant.is_suspended,
        )
        for m in memberships
    ]


def invitations_pending_for_user(*, user: User) -> list[Invitation]:
    """Pending invitations to the addresses ``user`` has verified (shown on "My workspaces"): those their inviter
    could still make now, to workspaces that are not frozen (the same rules as the e-mailed link)."""
    from allauth.account.models import EmailAddress

    addresses = {
        e.lower() for e in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    }
    if not addresses:
        return []
    pending = (
        Invitation.objects.filter(
            email__in=addresses, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .exclude(frozen_q("tenant__"))
        .select_related("tenant", "invited_by")
    )
    member_of = set(Membership.objects.filter(user=user).values_list("tenant_id", flat=True))
    candidates = [i for i in pending.order_by("-created_at") if i.tenant_id not in member_of]
    return invitations_inviter_may_make(candidates) if candidates else []


def invitation_accept_for_user(*, user: User, invitation_id: int, request: HttpRequest | None = None) -> Membership:
    """Accept, from "My workspaces", a pending invitation sent to an address ``user`` has verified (the address is
    the proof the accept link's secret would give). 404 for anyone else's or a used invitation, one its inviter
    could no longer make (``invitations_inviter_may_make``) and one to a frozen workspace, like the e-mailed link."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().select_related("tenant").filter(pk=invitation_id).first()
        if (
            invitation is None
            or invitation.status != "pending"
            or not user_email_verified(user, invitation.email)
            or invitation.tenant.is_public
            or invitation.tenant.is_frozen
            or not invitations_inviter_may_make([invitation])
        ):
            raise NotFound("This invitation does not exist, has expired or was already used.")
        tenant = invitation.tenant
        membership = Membership.objects.filter(tenant=tenant, user=user).first()
        if membership is None:
            membership = membership_set(tenant=tenant, user=user, role=invitation.role, actor=user, request=request)
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit_event_record(
            action="member.invitation_accepted",
            actor=user,
            request=request,
            target=invitation,
            details={"email": invitation.email, "role": membership.role, "via": "platform"},
            schema_name=tenant.schema_name,
        )
    return membership
