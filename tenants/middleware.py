"""Page access on tenant hosts: members only, and two-factor authentication where the tenant requires it."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from core.config import config_get
from core.errors import error_body
from tenants.hosts import platform_url
from tenants.mfa import user_has_totp
from tenants.role_checks import membership_get, membership_remember

# Paths that work without membership: sign-in pages, static files, and the API (which authenticates itself).
# Invitation links are opened by people who are not members yet (the view itself requires sign-in to accept);
# the admin checks staff status itself (platform superusers manage a workspace's governance records there).
OPEN_PREFIXES = ("/accounts/", "/static/", "/api/", "/favicon.ico", "/invitations/", "/admin/")


def _is_tenant_request(request: HttpRequest) -> bool:
    tenant = getattr(request, "tenant", None)
    return tenant is not None and tenant.schema_name != "public"


class MembershipMiddleware:
    """Only members of the host's tenant see its pages; everyone else is sent to sign in or gets a 403 page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.membership = None  # type: ignore[attr-defined]
        if not _is_tenant_request(request):
            return self.get_response(request)
        user = request.user
        if user.is_authenticated:
            request.membership = membership_get(user=user, tenant=request.tenant)  # type: ignore[attr-defined,arg-type]
            if request.membership is not None:  # type: ignore[attr-defined]
                membership_remember(user, request.membership)  # type: ignore[attr-defined]
        if request.path.startswith(OPEN_PREFIXES):
            return self.get_response(request)
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if request.membership is None:  # type: ignore[attr-defined]
            return render(request, "errors/403.html", {"not_member": True}, status=403)
        return self.get_response(request)


class MfaRequiredMiddleware:
    """Where a tenant requires MFA, members without an authenticator are sent to set one up first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            _is_tenant_request(request)
            and getattr(request, "membership", None) is not None
            and not request.path.startswith(OPEN_PREFIXES)
            and config_get("mfa_required", request.tenant)  # type: ignore[attr-defined]
            and not user_has_totp(request.user)
        ):
            messages.warning(request, "This workspace requires two-factor authentication. Set it up to continue.")
            return redirect("mfa_activate_totp")
        return self.get_response(request)


class SuspendedWorkspaceMiddleware:
    """A suspended workspace answers 403 ``workspace_suspended`` (JSON on the API, a page elsewhere) to everyone;
    its data stays as it is until an operator resumes it. Static files still load, so the page is readable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if tenant is None or not getattr(tenant, "is_suspended", False) or request.path.startswith("/static/"):
            return self.get_response(request)
        message = f"The workspace {tenant.name} is suspended by the platform operators; its data is kept."
        if request.path.startswith("/api/"):
            return JsonResponse(error_body("workspace_suspended", message), status=403)
        context = {"workspace": tenant, "platform_url": platform_url(request)}
        return render(request, "tenants/suspended.html", context, status=403)
