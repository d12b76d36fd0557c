"""Member management: invitations by e-mail, role changes and removals, with the owner rules of the platform.

Rules (docs/permissions.md, "Members and roles"):

- owners and stewards manage members; only an owner may make someone an owner or change/remove an owner, so a
  steward can never escalate themselves (or anyone) to owner;
- the last owner can be neither demoted nor removed (409);
- removing a member revokes their tokens for the tenant; their browser session loses access on its next request
  (every page and API call checks the membership);
- an invitation lives no longer than its inviter's right to make it: removing the inviter withdraws their pending
  invitations, and a role change withdraws those the new role may not make (owner invitations below owner); a link
  is also checked against its inviter's account and role when it is used.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.services import audit_event_record
from core.config import config_get
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from tenants.emails import email_verified_user, user_email_verified
from tenants.events import member_removed, member_role_changed
from tenants.models import Invitation, Membership, Tenant, User
from tenants.quotas import Quota, quota_require
from tenants.role_checks import role_require
from tenants.roles import Role, role_at_least
from tenants.selectors import invitations_inviter_may_make, membership_get_by_email
from tenants.services import membership_delete, membership_set


def invitation_digest(secret: str) -> str:
    """SHA-256 of an invitation secret (only the digest is stored)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _normalize_email(email: str) -> str:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    normalized = email.strip().lower()
    try:
        validate_email(normalized)
    except ValidationError as exc:
        raise InvalidInput(f"{email!r} is not a valid e-mail address.", code="invalid_email") from exc
    return normalized


def _validate_role(role: str) -> str:
    if role not in Role.values:
        raise InvalidInput(f"Unknown role {role!r}; use one of {', '.join(Role.values)}.", code="invalid_role")
    return role


def _require_owner_for(actor_membership: Membership, message: str) -> None:
    if actor_membership.role != Role.OWNER:
        raise Forbidden(message, code="owner_only")


def _site_url(tenant: Tenant, request: HttpRequest | None, path: str) -> str:
    if request is not None:
        return request.build_absolute_uri(path)
    return f"https://{tenant.primary_domain_name()}{path}"


@dataclass(frozen=True)
class InviteResult:
    """What an invitation did: an existing user became a member now, or an invitation e-mail was sent."""

    email: str
    role: str
    membership: Membership | None = None
    invitation: Invitation | None = None

    @property
    def status(self) -> str:
        return "member" if self.membership is not None else "invited"


def member_invite(
    *, tenant: Tenant, actor: User, email: str, role: str, request: HttpRequest | None = None
) -> InviteResult:
    """Invite ``email`` with ``role``: the account that verified ``email`` becomes a member at once; anyone else
    (including an account that holds the address unverified) gets an e-mailed accept link.

    Steward or owner; only owners invite owners. 409 when the person is already a member.
    """
    actor_membership = role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="invite members")
    address = _normalize_email(email)
    _validate_role(role)
    if role == Role.OWNER:
        _require_owner_for(actor_membership, "Only an owner may make someone an owner.")
    # Only an account that verified the address is "an existing user": an address someone merely typed into their
    # account (never confirmed) gets the e-mailed link like a stranger, so only the address's owner can join.
    user = email_verified_user(address)
    if user is not None and Membership.objects.filter(tenant=tenant, user=user).exists():
        raise Conflict(f"{address} is already a member; change their role instead.", code="already_member")
    if user is not None:
        with transaction.atomic():
            membership = membership_set(tenant=tenant, user=user, role=role, actor=actor, request=request)
            link = _site_url(tenant, request, "/")
            transaction.on_commit(
                lambda: send_mail(
                    f"You have been added to {tenant.name}",
                    f"{actor.email} added you to the workspace {tenant.name} as {role}.\n\nOpen it: {link}\n",
                    None,
                    [address],
                    fail_silently=True,
                )
            )
        return InviteResult(email=address, role=role, membership=membership)

    quota_require(tenant=tenant, quota=Quota.MEMBERS, used=Membership.objects.filter(tenant=tenant).count())
    secret = secrets.token_urlsafe(32)
    days = config_get("invitation_expiry_days", tenant)
    with transaction.atomic():
        Invitation.objects.filter(
            tenant=tenant, email=address, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        invitation = Invitation.objects.create(
            tenant=tenant,
            email=address,
            role=role,
            digest=invitation_digest(secret),
            invited_by=actor,
            expires_at=timezone.now() + timedelta(days=days),
        )
        audit_event_record(
            action="member.invited",
            actor=actor,
            request=request,
            target=invitation,
            details={"email": address, "role": role, "expires_at": invitation.expires_at.isoformat()},
            schema_name=tenant.schema_name,
        )
        link = _site_url(tenant, request, reverse("invitation_accept", args=[secret]))
        transaction.on_commit(
            lambda: send_mail(
                f"Invitation to {tenant.name}",
                (
                    f"{actor.email} invites you to the workspace {tenant.name} as {role}.\n\n"
                    f"Accept the invitation (sign in or create an account with this e-mail address): {link}\n\n"
                    f"The link expires on {invitation.expires_at:%Y-%m-%d}.\n"
                ),
                None,
                [address],
                fail_silently=True,
            )
        )
    return InviteResult(email=address, role=role, invitation=invitation)


def invitation_pending_get(*, tenant: Tenant, secret: str) -> Invitation | None:
    """The pending (not accepted, revoked or expired) invitation of ``tenant`` for an accept-link secret."""
    if not secret or len(secret) > 200:
        return None
    invitation = Invitation.objects.filter(tenant=tenant, digest=invitation_digest(secret)).first()
    if invitation is None or invitation.status != "pending" or not _inviter_still_may(invitation):
        return None
    return invitation


def _inviter_still_may(invitation: Invitation) -> bool:
    """Whether the inviter could still make ``invitation`` now (``invitations_inviter_may_make``): checked when the
    link is used."""
    return bool(invitations_inviter_may_make([invitation]))


def invitation_accept(*, tenant: Tenant, secret: str, user: User, request: HttpRequest | None = None) -> Membership:
    """Accept an invitation as the signed-in ``user``, whose verified sign-in address must be the invited one."""
    with transaction.atomic():
        invitation = invitation_pending_get(tenant=tenant, secret=secret)
        if invitation is None:
            raise NotFound("This invitation does not exist, has expired or was already used.")
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.status != "pending" or not _inviter_still_may(invitation):  # single use; a concurrent change
            raise NotFound("This invitation does not exist, has expired or was already used.")
        if invitation.email.lower() != user.email.lower():
            raise Forbidden(
                "This invitation was sent to another e-mail address. Sign in with that address to accept it.",
                code="invitation_other_email",
            )
        if not user_email_verified(user, invitation.email):
            raise Forbidden(
                f"Confirm {invitation.email} first (the link in the confirmation mail, or Account > E-mail), "
                "then accept the invitation.",
                code="email_unverified",
            )
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
            details={"email": user.email, "role": membership.role},
            schema_name=tenant.schema_name,
        )
    return membership


def invitation_revoke(
    *, tenant: Tenant, actor: User, invitation_id: int, request: HttpRequest | None = None
) -> Invitation:
    """Withdraw a pending invitation (steward or owner; owner invitations by owners only)."""
    actor_membership = role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="manage invitations")
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().filter(tenant=tenant, pk=invitation_id).first()
        if invitation is None:
            raise NotFound("No such invitation.")
        if invitation.role == Role.OWNER:
            _require_owner_for(actor_membership, "Only an owner may withdraw an owner invitation.")
        if invitation.status != "pending":
            raise Conflict(f"The invitation is already {invitation.status}.", code="invitation_not_pending")
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_event_record(
            action="member.invitation_revoked",
            actor=actor,
            request=request,
            target=invitation,
            details={"email": invitation.email},
            schema_name=tenant.schema_name,
        )
    return invitation


def _invitations_beyond(
    *, tenant: Tenant, inviter: User, role: str | None, actor: User, request: HttpRequest | None
) -> int:
    """Withdraw the pending invitations ``inviter`` made that they could no longer make with ``role`` (None: they
    left): every one below the steward role, owner invitations below the owner role. Audited
    ``member.invitation_revoked`` with ``details.reason``; returns how many."""
    pending = Invitation.objects.select_for_update().filter(
        tenant=tenant, invited_by=inviter, accepted_at__isnull=True, revoked_at__isnull=True
    )
    if role is not None and role_at_least(role, Role.STEWARD):
        pending = pending.filter(role=Role.OWNER) if role != Role.OWNER else pending.none()
    now = timezone.now()
    ended = 0
    for invitation in pending.order_by("pk"):
        if invitation.expires_at <= now:
            continue
        invitation.revoked_at = now
        invitation.save(update_fields=["revoked_at"])
        audit_event_record(
            action="member.invitation_revoked",
            actor=actor,
            request=request,
            target=invitation,
            details={
                "email": invitation.email,
                "reason": "inviter_removed" if role is None else "inviter_role_changed",
                "inviter": inviter.email,
            },
            schema_name=tenant.schema_name,
        )
        ended += 1
    return ended


def _target_membership(tenant: Tenant, email: str) -> Membership:
    """The member shown in the members list under ``email`` (verified or not: stewards must be able to act on
    every listed member, e.g. remove one whose address was never verified)."""
    membership = membership_get_by_email(tenant=tenant, email=email, verified_only=False)
    if membership is None:
        raise NotFound("No such member.")
    return membership


def member_role_change(
    *, tenant: Tenant, actor: User, email: str, role: str, request: HttpRequest | None = None
) -> Membership:
    """Change a member's role (steward or owner). Owners only make or unmake owners; never the last owner (409)."""
    actor_membership = role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="change roles")
    _validate_role(role)
    target = _target_membership(tenant, email)
    if role_at_least(role, target.role) and role != target.role and not user_email_verified(target.user):
        raise Conflict(
            f"{target.user.email} is not a verified address; a member can be given more rights only once they have "
            "confirmed it. You can lower their role or remove them.",
            code="email_unverified",
        )
    if role == Role.OWNER and target.role != Role.OWNER:
        _require_owner_for(actor_membership, "Only an owner may make someone an owner.")
    if target.role == Role.OWNER and role != Role.OWNER:
        _require_owner_for(actor_membership, "Only an owner may change an owner's role.")
    with transaction.atomic():
        membership = membership_set(tenant=tenant, user=target.user, role=role, actor=actor, request=request)
        # An invitation lives no longer than its inviter's right to make it.
        _invitations_beyond(tenant=tenant, inviter=target.user, role=role, actor=actor, request=request)
        member_role_changed.send(
            sender=Membership, tenant=tenant, user=target.user, role=role, actor=actor, request=request
        )
    return membership


def member_remove(*, tenant: Tenant, actor: User, email: str, request: HttpRequest | None = None) -> None:
    """Remove a member (steward or owner; owners only by owners; never the last owner). Their tokens are revoked."""
    actor_membership = role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="remove members")
    target = _target_membership(tenant, email)
    if target.role == Role.OWNER:
        _require_owner_for(actor_membership, "Only an owner may remove an owner.")
    with transaction.atomic(), schema_context(tenant.schema_name):
        membership_delete(tenant=tenant, user=target.user, actor=actor, request=request)
        _invitations_beyond(tenant=tenant, inviter=target.user, role=None, actor=actor, request=request)
        # Nothing the person had here survives the removal: the apps above revoke what they hold (access: grants
        # and team seats), inside this transaction.
        member_removed.send(sender=Membership, tenant=tenant, user=target.user, actor=actor, request=request)


__all__ = [
    "InviteResult",
    "invitation_accept",
    "invitation_pending_get",
    "invitation_revoke",
    "member_invite",
    "member_remove",
    "member_role_change",
]


SESSION_INVITATION_KEY = "bdt_invitation"


def invitation_in_session(request: HttpRequest) -> Invitation | None:
    """The pending invitation whose accept link this browser opened (lets an invited person sign up)."""
    tenant = getattr(request, "tenant", None)
    secret = request.session.get(SESSION_INVITATION_KEY) if hasattr(request, "session") else None
    if tenant is None or not isinstance(secret, str):
        return None
    return invitation_pending_get(tenant=tenant, secret=secret)
