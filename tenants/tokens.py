"""Personal access tokens: created once (secret shown once), stored as SHA-256, bound to one tenant."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F, FilteredRelation, Q
from django.http import HttpRequest
from django.utils import timezone

from audit.services import audit_event_record, audit_event_record_coalesced
from core.config import config_get
from core.errors import Forbidden, InvalidInput, NotFound
from tenants.mfa import user_has_totp
from tenants.models import ApiToken, Membership, Tenant, User
from tenants.role_checks import membership_remember
from tenants.token_scopes import TokenScope, scope_at_most

TOKEN_PREFIX = "bdt"  # noqa: S105 - public token prefix


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    plaintext: str


def mfa_rule_require(*, user: User, tenant: Tenant) -> None:
    """403 ``mfa_required`` when ``tenant`` requires two-factor authentication and ``user`` has not set it up.

    Applies to every way in: pages, the session API, token creation and every token use (so tokens of a member who
    has not met the rule stop working, and start again once they set it up)."""
    if config_get("mfa_required", tenant) and not user_has_totp(user):
        raise Forbidden(
            "This workspace requires two-factor authentication: set up an authenticator app (Settings > Security) "
            "before using or creating personal access tokens.",
            code="mfa_required",
        )


def api_token_create(
    *,
    user: User,
    tenant: Tenant,
    name: str,
    expires_days: int | None = None,
    scope: str = TokenScope.FULL,
    parent: ApiToken | None = None,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> CreatedToken:
    """Create a token for a member of ``tenant``; the plaintext is returned once and never stored.

    ``parent`` is the token the request authenticated with, if any: the new token can be no broader than it
    (``scope``) and cannot outlive it (expiry at most the parent's; revoking the parent revokes it). Members who
    have not met the workspace's two-factor rule cannot create tokens."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("Give the token a name of 1-100 characters.", code="invalid_name")
    if scope not in TokenScope.values:
        raise InvalidInput(f"Unknown scope; use one of {', '.join(TokenScope.values)}.", code="invalid_scope")
    default_days = config_get("token_default_expiry_days", tenant)
    max_days = config_get("token_max_expiry_days", tenant)
    days = default_days if expires_days is None else expires_days
    if days < 1 or days > max_days:
        raise InvalidInput(f"A token must expire in 1 to {max_days} days.", code="invalid_expiry")
    if not Membership.objects.filter(user=user, tenant=tenant).exists():
        raise NotFound("No such member.")
    mfa_rule_require(user=user, tenant=tenant)
    expires_at = timezone.now() + timedelta(days=days)
    if parent is not None:
        if not scope_at_most(scope, parent.scope):
            raise Forbidden(
                f"A {parent.scope} token cannot create a {scope} token: a token can only create narrower ones.",
                code="scope_beyond_parent",
            )
        if expires_at > parent.expires_at:
            if expires_days is not None:
                raise InvalidInput(
                    f"A token cannot outlive the token that creates it; this one expires at "
                    f"{parent.expires_at:%Y-%m-%d %H:%M} UTC.",
                    code="token_outlives_parent",
                    details={"parent_expires_at": parent.expires_at.isoformat()},
                )
            expires_at = parent.expires_at
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            tenant=tenant,
            name=name,
            prefix=prefix,
            digest=_digest(secret),
            expires_at=expires_at,
            scope=scope,
            parent=parent,
        )
        audit_event_record(
            action="token.created",
            actor=actor or user,
            request=request,
            target=token,
            details={
                "owner": user.email,
                "expires_at": token.expires_at.isoformat(),
                "scope": scope,
                "parent": parent.prefix if parent is not None else None,
            },
            schema_name=tenant.schema_name,
        )
    return CreatedToken(token=token, plaintext=f"{TOKEN_PREFIX}_{prefix}_{secret}")


def api_token_revoke(*, token: ApiToken, actor: User | None = None, request: HttpRequest | None = None) -> ApiToken:
    """Revoke a token (idempotent) and every token it created, at any depth (a token never outlives its parent)."""
    with transaction.atomic():
        now = timezone.now()
        pending = [token]
        seen: set[int] = set()
        while pending:
            current = pending.pop()
            if current.pk in seen:
                continue
            seen.add(current.pk)
            if current.revoked_at is None:
                current.revoked_at = now
                current.save(update_fields=["revoked_at"])
                audit_event_record(
                    action="token.revoked",
                    actor=actor,
                    request=request,
                    target=current,
                    details={
                        "owner": current.user.email,
                        **({"because_parent_revoked": token.prefix} if current is not token else {}),
                    },
                    schema_name=current.tenant.schema_name,
                )
            pending.extend(ApiToken.objects.select_related("user", "tenant").filter(parent_id=current.pk))
    return token


def api_token_revoke_all(*, user: User, tenant: Tenant) -> int:
    """Revoke every active token of ``user`` for ``tenant`` (used when a member is removed)."""
    return ApiToken.objects.filter(user=user, tenant=tenant, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_authenticate(raw: str, tenant: Tenant, request: HttpRequest | None = None) -> ApiToken | None:
    """Return the active token for ``raw`` if it belongs to ``tenant`` and its user is still an active member.

    The membership found is remembered on ``token.user`` for the rest of the request (``membership_for``)."""
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    _, prefix, secret = parts
    token = _token_with_membership(prefix, tenant)
    if token is None or not hmac.compare_digest(token.digest, _digest(secret)):
        return None
    if token.tenant_id != tenant.pk:
        _wrong_host_record(token, tenant, request)
        return None
    if not token.is_active or not token.user.is_active or (token.parent is not None and not token.parent.is_active):
        return None
    membership = _membership_of(token, tenant)
    if membership is None:
        return None
    membership_remember(token.user, membership)
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


_MEMBERSHIP_FIELDS = tuple(field.attname for field in Membership._meta.concrete_fields)


def _token_with_membership(prefix: str, tenant: Tenant) -> ApiToken | None:
    """The token with ``prefix`` (its user, tenant and parent) and its user's membership in ``tenant`` (the host's
    workspace, not necessarily the token's), read in one query: the membership's fields ride along as annotations
    from a join restricted to that workspace (at most one row: one membership per user and workspace)."""
    in_host = FilteredRelation("user__memberships", condition=Q(user__memberships__tenant_id=tenant.pk))
    fields = {f"host_member_{name}": F(f"host_membership__{name}") for name in _MEMBERSHIP_FIELDS}
    return (
        ApiToken.objects.select_related("user", "tenant", "parent")
        .annotate(host_membership=in_host)
        .annotate(**fields)
        .filter(prefix=prefix)
        .first()
    )


def _membership_of(token: ApiToken, tenant: Tenant) -> Membership | None:
    """The membership read with the token by :func:`_token_with_membership` (None when the user is no member)."""
    values = [getattr(token, f"host_member_{name}") for name in _MEMBERSHIP_FIELDS]
    if values[_MEMBERSHIP_FIELDS.index("id")] is None:
        return None
    membership = Membership.from_db(token._state.db or "default", list(_MEMBERSHIP_FIELDS), values)
    if membership.user_id != token.user_id or membership.tenant_id != tenant.pk:
        return None
    return membership


def _wrong_host_record(token: ApiToken, host_tenant: Tenant, request: HttpRequest | None) -> None:
    """A valid token presented on another workspace's host: audited in both workspaces (once per token and
    workspace per ``audit_coalesce_seconds``), the answer stays a plain 401."""
    audit_event_record_coalesced(
        coalesce_key=f"token.wrong_host|{token.prefix}",
        action="auth.token_wrong_host",
        actor=token.user,
        request=request,
        target_type="tenants.apitoken",
        target_id=str(token.pk),
        target_repr=f"token {token.prefix} of another workspace",
        details={"token_prefix": token.prefix, "owner": token.user.email},
        schema_name=host_tenant.schema_name,
    )
    audit_event_record_coalesced(
        coalesce_key=f"token.used_on_other_host|{token.prefix}|{host_tenant.pk}",
        action="token.used_on_other_host",
        actor=token.user,
        request=request,
        target=token,
        details={"token_prefix": token.prefix, "workspace": host_tenant.slug},
        schema_name=token.tenant.schema_name,
    )
