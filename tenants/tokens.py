"""Personal access tokens: created once (secret shown once), stored as SHA-256, bound to one tenant."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import audit_event_record
from bdt_project.config import config_get
from bdt_project.errors import InvalidInput, NotFound
from tenants.access import membership_remember
from tenants.models import ApiToken, Membership, Tenant, User

TOKEN_PREFIX = "bdt"  # noqa: S105 - public token prefix


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    plaintext: str


def api_token_create(
    *,
    user: User,
    tenant: Tenant,
    name: str,
    expires_days: int | None = None,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> CreatedToken:
    """Create a token for a member of ``tenant``; the plaintext is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("Give the token a name of 1-100 characters.", code="invalid_name")
    default_days = config_get("token_default_expiry_days", tenant)
    max_days = config_get("token_max_expiry_days", tenant)
    days = default_days if expires_days is None else expires_days
    if days < 1 or days > max_days:
        raise InvalidInput(f"A token must expire in 1 to {max_days} days.", code="invalid_expiry")
    if not Membership.objects.filter(user=user, tenant=tenant).exists():
        raise NotFound("No such member.")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            tenant=tenant,
            name=name,
            prefix=prefix,
            digest=_digest(secret),
            expires_at=timezone.now() + timedelta(days=days),
        )
        audit_event_record(
            action="token.created",
            actor=actor or user,
            request=request,
            target=token,
            details={"owner": user.email, "expires_at": token.expires_at.isoformat()},
            schema_name=tenant.schema_name,
        )
    return CreatedToken(token=token, plaintext=f"{TOKEN_PREFIX}_{prefix}_{secret}")


def api_token_revoke(*, token: ApiToken, actor: User | None = None, request: HttpRequest | None = None) -> ApiToken:
    """Revoke a token (idempotent)."""
    with transaction.atomic():
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_event_record(
                action="token.revoked",
                actor=actor,
                request=request,
                target=token,
                details={"owner": token.user.email},
                schema_name=token.tenant.schema_name,
            )
    return token


def api_token_revoke_all(*, user: User, tenant: Tenant) -> int:
    """Revoke every active token of ``user`` for ``tenant`` (used when a member is removed)."""
    return ApiToken.objects.filter(user=user, tenant=tenant, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_authenticate(raw: str, tenant: Tenant) -> ApiToken | None:
    """Return the active token for ``raw`` if it belongs to ``tenant`` and its user is still an active member.

    The membership found is remembered on ``token.user`` for the rest of the request (``membership_for``)."""
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    _, prefix, secret = parts
    token = ApiToken.objects.select_related("user", "tenant").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.digest, _digest(secret)):
        return None
    if token.tenant_id != tenant.pk or not token.is_active or not token.user.is_active:
        return None
    membership = Membership.objects.filter(user_id=token.user_id, tenant_id=tenant.pk).first()
    if membership is None:
        return None
    membership_remember(token.user, membership)
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
