"""Verified e-mail addresses: the only addresses that count for sign-in, invitations and membership.

An address is *verified* for an account when allauth's ``EmailAddress`` row for it says so: the person clicked the
confirmation link mailed to it, signed up through an invitation link mailed to it, or an operator vouched for it
(accounts made by ``tenant_create --owner``, ``token_create``, ``seed_demo``). An unverified address is a claim
nobody proved: it never finds an account, never makes anyone a member, and never receives a password reset.
"""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import HttpRequest

from audit.services import audit_event_record
from tenants.models import User

RELEASED_DOMAIN = "invalid"  # RFC 2606: a name that never receives mail


def email_normalize(address: str) -> str:
    """The form addresses are stored and compared in (allauth lowers them too)."""
    return (address or "").strip().lower()


def email_verified_user(address: str) -> User | None:
    """The active account that holds ``address`` verified, or None (unknown or only claimed, never verified)."""
    normalized = email_normalize(address)
    if not normalized:
        return None
    row = (
        EmailAddress.objects.filter(email__iexact=normalized, verified=True, user__is_active=True)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    return row.user if row is not None else None  # type: ignore[return-value]


def user_email_verified(user: Any, address: str | None = None) -> bool:
    """True when ``user`` holds ``address`` (default: their sign-in address) verified."""
    normalized = email_normalize(address if address is not None else getattr(user, "email", ""))
    if not normalized or getattr(user, "pk", None) is None:
        return False
    return EmailAddress.objects.filter(user_id=user.pk, email__iexact=normalized, verified=True).exists()


def email_verified_q(prefix: str = "") -> Exists:
    """An ``Exists`` expression: the row's user holds their sign-in address verified (``prefix`` = path to the
    user, e.g. ``"user__"``), for annotating member lists without one query per member."""
    user_ref = f"{prefix}pk" if prefix else "pk"
    email_ref = f"{prefix}email" if prefix else "email"
    return Exists(
        EmailAddress.objects.filter(user_id=OuterRef(user_ref), email__iexact=OuterRef(email_ref), verified=True)
    )


def email_unverified_claim(address: str) -> bool:
    """True when some account holds ``address`` without having verified it (and nobody holds it verified)."""
    normalized = email_normalize(address)
    if not normalized or email_verified_user(normalized) is not None:
        return False
    return (
        EmailAddress.objects.filter(email__iexact=normalized, verified=False).exists()
        or User.objects.filter(email__iexact=normalized).exists()
    )


def email_vouch(user: User) -> EmailAddress:
    """Mark ``user``'s sign-in address verified on an operator's word (accounts the platform itself creates).

    Refuses (``ValueError``) when the account already has an allauth record of that address that is unverified: then
    the address was typed by whoever holds the account, and an operator cannot know it is theirs."""
    address = email_normalize(user.email)
    existing = EmailAddress.objects.filter(user_id=user.pk, email__iexact=address).first()
    if existing is not None:
        if not existing.verified:
            raise ValueError(address)
        return existing
    has_primary = EmailAddress.objects.filter(user_id=user.pk, primary=True).exists()
    return EmailAddress.objects.create(user=user, email=address, verified=True, primary=not has_primary)


def email_claims_release(*, address: str, request: HttpRequest | None = None, reason: str) -> int:
    """Drop every *unverified* claim on ``address`` (someone just proved they control it, e.g. by signing up through
    an invitation link mailed to it). Accounts that used it as their sign-in address fall back to a verified address
    of theirs; an account that never verified any address is deactivated and its address replaced by a reserved
    ``unverified-<id>@invalid`` one. Audited as ``auth.email_released`` in the public chain. Returns the number of
    accounts touched."""
    normalized = email_normalize(address)
    touched = 0
    with transaction.atomic():
        claims = list(EmailAddress.objects.select_for_update().filter(email__iexact=normalized, verified=False))
        holders = {claim.user_id for claim in claims}
        holders |= set(
            User.objects.filter(email__iexact=normalized)
            .exclude(
                Exists(EmailAddress.objects.filter(user_id=OuterRef("pk"), email__iexact=normalized, verified=True))
            )
            .values_list("pk", flat=True)
        )
        for claim in claims:
            claim.delete()
        for user in User.objects.select_for_update().filter(pk__in=holders).order_by("pk"):
            touched += 1
            deactivated = False
            if email_normalize(user.email) == normalized:
                fallback = (
                    EmailAddress.objects.filter(user_id=user.pk, verified=True).order_by("-primary", "pk").first()
                )
                if fallback is not None:
                    user.email = fallback.email
                    EmailAddress.objects.filter(user_id=user.pk).exclude(pk=fallback.pk).update(primary=False)
                    EmailAddress.objects.filter(pk=fallback.pk).update(primary=True)
                else:
                    user.email = f"unverified-{user.pk}@{RELEASED_DOMAIN}"
                    user.is_active = False
                    deactivated = True
                user.save(update_fields=["email", "is_active"])
            audit_event_record(
                action="auth.email_released",
                request=request,
                actor=None,
                target=user,
                details={"email": normalized, "reason": reason, "account_deactivated": deactivated},
                schema_name="public",
            )
    return touched
