"""Personal access tokens for the platform host (``token_create --platform``): they list and create the holder's
workspaces and nothing else. Bound to the public tenant, so no workspace host accepts them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_event_record
from core.config import config_get
from core.errors import InvalidInput
from tenants.models import ApiToken, Tenant, User
from tenants.tokens import TOKEN_PREFIX, CreatedToken


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _public_tenant() -> Tenant:
    return Tenant.objects.get(schema_name=settings.PUBLIC_SCHEMA_NAME)


def platform_token_create(*, user: User, name: str = "platform", expires_days: int | None = None) -> CreatedToken:
    """A token for the platform host's API; the plaintext is returned once. Audited in the platform's chain."""
    tenant = _public_tenant()
    max_days = config_get("token_max_expiry_days")
    days = config_get("token_default_expiry_days") if expires_days is None else expires_days
    if days < 1 or days > max_days:
        raise InvalidInput(f"A token must expire in 1 to {max_days} days.", code="invalid_expiry")
    if not name.strip() or len(name.strip()) > 100:
        raise InvalidInput("Give the token a name of 1-100 characters.", code="invalid_name")
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            tenant=tenant,
            name=name.strip(),
            prefix=prefix,
            digest=_digest(secret),
            expires_at=timezone.now() + timedelta(days=days),
        )
        audit_event_record(
            action="token.created",
            actor=user,
            target=token,
            details={"owner": user.email, "expires_at": token.expires_at.isoformat(), "platform": True},
            schema_name=settings.PUBLIC_SCHEMA_NAME,
        )
    return CreatedToken(token=token, plaintext=f"{TOKEN_PREFIX}_{prefix}_{secret}")


def platform_token_authenticate(raw: str) -> ApiToken | None:
    """The active platform token for ``raw`` with its (active) user, or None."""
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    _, prefix, secret = parts
    token = ApiToken.objects.select_related("user", "tenant").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.digest, _digest(secret)):
        return None
    if token.tenant.schema_name != settings.PUBLIC_SCHEMA_NAME or not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
