"""API authentication: personal access tokens (Bearer) and the browser session (with CSRF), members only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth
from ninja.throttling import UserRateThrottle

from core.config import config_get
from core.errors import Forbidden
from tenants.models import ApiToken, Membership, Tenant, User
from tenants.role_checks import membership_for, membership_remember, token_scope_remember
from tenants.token_scopes import scope_allows
from tenants.tokens import api_token_authenticate, mfa_rule_require


@dataclass(frozen=True)
class Principal:
    """Who is calling the API, in which tenant, with which role (and token, when one was used)."""

    user: User
    tenant: Tenant
    membership: Membership
    token: ApiToken | None = None

    @property
    def role(self) -> str:
        return self.membership.role

    def __str__(self) -> str:  # used by throttles as the caller's identity
        return f"{self.tenant.schema_name}:{self.user.pk}"


def _tenant(request: HttpRequest) -> Tenant | None:
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.schema_name == "public":
        return None
    return tenant


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return str(getattr(match, "route", "") or request.path)


class TokenAuth(HttpBearer):
    """``Authorization: Bearer bdt_...``: valid only on the host of the token's tenant, for a member who meets the
    workspace's two-factor rule, within the token's scope (tenants/token_scopes.py)."""

    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        tenant = _tenant(request)
        if tenant is None:
            return None
        api_token = api_token_authenticate(token, tenant, request)
        if api_token is None:
            return None
        membership = membership_for(user=api_token.user, tenant=tenant)  # found by api_token_authenticate
        if membership is None:
            return None
        request.user = api_token.user
        request.membership = membership  # type: ignore[attr-defined]
        mfa_rule_require(user=api_token.user, tenant=tenant)
        if not scope_allows(api_token.scope, request.method or "GET", _route(request)):
            raise Forbidden(
                f"This token's scope ({api_token.scope}) does not allow {request.method} {request.path[:200]}. "
                "Use a token with a broader scope.",
                code="token_scope",
                details={"scope": api_token.scope},
            )
        token_scope_remember(api_token.user, api_token.scope)
        return Principal(user=api_token.user, tenant=tenant, membership=membership, token=api_token)


class MemberSessionAuth(SessionAuth):
    """The browser session of a member (CSRF enforced on unsafe methods)."""

    def _get_key(self, request: HttpRequest) -> str | None:
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None  # no session: let the 401 say "authenticate", not "CSRF failed"
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        tenant = _tenant(request)
        user: Any = request.user
        if key is None or tenant is None or not user.is_authenticated:
            return None
        membership = getattr(request, "membership", None)  # MembershipMiddleware looked it up already
        if membership is None or membership.user_id != user.pk or membership.tenant_id != tenant.pk:
            membership = membership_for(user=user, tenant=tenant)
        if membership is None:
            raise AuthorizationError(403, "You are not a member of this workspace.")
        membership_remember(user, membership)
        mfa_rule_require(user=user, tenant=tenant)
        return Principal(user=user, tenant=tenant, membership=membership)


class TenantRateThrottle(UserRateThrottle):
    """Per-caller request rate, from the ``api_rate_limit`` setting (tenant overridable)."""

    def allow_request(self, request: HttpRequest) -> bool:
        self.rate = config_get("api_rate_limit", getattr(request, "tenant", None))
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request)


def principal(request: HttpRequest) -> Principal:
    """The authenticated principal of an API request (set by the global auth)."""
    return request.auth  # type: ignore[attr-defined,no-any-return]
