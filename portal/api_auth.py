"""Authentication on the platform host's API: a platform token (Bearer) or the browser session (with CSRF)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth

from tenants.models import User
from tenants.platform_tokens import platform_token_authenticate


def _on_platform_host(request: HttpRequest) -> bool:
    tenant = getattr(request, "tenant", None)
    return tenant is not None and tenant.schema_name == settings.PUBLIC_SCHEMA_NAME


class PlatformTokenAuth(HttpBearer):
    """``Authorization: Bearer bdt_...`` with a token made by ``token_create --platform``."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        if not _on_platform_host(request):
            return None
        found = platform_token_authenticate(token)
        if found is None:
            return None
        request.user = found.user
        return found.user


class PlatformSessionAuth(SessionAuth):
    """The signed-in browser session on the platform host (CSRF enforced on unsafe methods)."""

    def _get_key(self, request: HttpRequest) -> str | None:
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user: Any = request.user
        if key is None or not _on_platform_host(request) or not user.is_authenticated:
            return None
        return user


def caller(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined,no-any-return]
