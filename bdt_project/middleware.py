"""Platform-wide middleware: request ids, one API error shape, the tenant-free health shortcut, tenant resolution by
host."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import remove_www

from bdt_project.health import health_check
from core.errors import error_body

HEALTH_PATHS = {"/api/v1/health", "/api/v1/health/"}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Give every request an id (from ``X-Request-ID`` when well-formed) and echo it in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        return response


API_ERROR_MESSAGES = {
    400: ("bad_request", "The request could not be understood."),
    401: ("not_authenticated", "Authentication required: send a valid personal access token."),
    403: ("forbidden", "You do not have access to this."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed here."),
    413: ("too_large", "The request is too large."),
    415: ("unsupported_media_type", "This content type is not supported here."),
    429: ("rate_limited", "Too many requests; slow down and retry shortly."),
}


class ApiErrorShapeMiddleware:
    """Every API error is ``{"error": {"code", "message", "details"}}``, also the ones Django or django-ninja answer
    themselves before a handler runs (e.g. 405 for an unsupported method): non-JSON error bodies under ``/api/`` are
    replaced by the documented shape, keeping the status and headers such as ``Allow`` and ``Retry-After``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith("/api/")
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        code, message = API_ERROR_MESSAGES.get(
            response.status_code,
            ("internal_error", "Something went wrong on our side. The error has been logged.")
            if response.status_code >= 500
            else ("error", "The request failed."),
        )
        shaped = JsonResponse(error_body(code, message), status=response.status_code)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                shaped[header] = response[header]
        return shaped


class HealthShortcutMiddleware:
    """Answer the health endpoint before tenant resolution, so it works for any host and with the database down."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path in HEALTH_PATHS and request.method in {"GET", "HEAD"}:
            status, body = health_check()
            return JsonResponse(body, status=status)
        return self.get_response(request)


class TenantMiddleware(TenantMainMiddleware):
    """django-tenants' host resolution with a proper 404 (JSON on the API) for unknown hosts.

    Host names are case-insensitive (RFC 4343): ``LAB-A.test`` is ``lab-a.test``. Domains are stored in lower case
    (``tenants.services`` lowers them), so the request's host is lowered before the lookup."""

    @staticmethod
    def hostname_from_request(request: HttpRequest) -> str:
        return remove_www(request.get_host().split(":")[0].lower())

    def no_tenant_found(self, request: HttpRequest, hostname: str) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse(error_body("not_found", "No tenant is served at this host."), status=404)
        from tenants.hosts import platform_url

        context = {"unknown_host": True, "platform_url": platform_url(request)}
        return render(request, "errors/404.html", context, status=404)
