"""Platform-wide middleware: request ids, one API error shape, the tenant-free health shortcut, tenant resolution by
host."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from django.core.exceptions import DisallowedHost
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, JsonResponse
from django.shortcuts import render
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_public_schema_name, get_tenant_domain_model, remove_www

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

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        """django-tenants' resolution without two of its three round trips when the connection already serves
        the host's tenant (a kept-alive connection, the next request to the same workspace).

        The domain lookup reads shared tables (``tenants_domain``, ``tenants_tenant``), which exist only in the
        public schema, so it runs on whatever search path the connection has as long as that path includes
        public; the ``SET search_path`` to the tenant is skipped when the connection is already set to exactly that
        path (django-tenants forgets what is set on every rollback and reconnect, so a stale path is never
        trusted). Every other outcome (unknown host, bad host) leaves the connection on public, as before."""
        db: Any = connection  # django-tenants' wrapper
        had = db.search_path_set_schemas
        if not had or get_public_schema_name() not in had:
            db.set_schema_to_public()
        try:
            hostname = self.hostname_from_request(request)
        except DisallowedHost:
            db.set_schema_to_public()
            return HttpResponseNotFound()
        domain_model = get_tenant_domain_model()
        try:
            tenant = self.get_tenant(domain_model, hostname)
        except domain_model.DoesNotExist:
            db.set_schema_to_public()
            return self.no_tenant_found(request, hostname)
        except Exception:
            db.set_schema_to_public()  # a failed lookup never leaves the previous request's workspace selected
            raise
        tenant.domain_url = hostname
        request.tenant = tenant  # type: ignore[attr-defined]
        current = db.search_path_set_schemas
        db.set_tenant(tenant)
        if current and list(current) == list(db._get_cursor_search_paths()):
            db.search_path_set_schemas = current  # already set on this connection: no SET needed
        self.setup_url_routing(request)
        return None

    def no_tenant_found(self, request: HttpRequest, hostname: str) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse(error_body("not_found", "No tenant is served at this host."), status=404)
        from tenants.hosts import platform_url

        context = {"unknown_host": True, "platform_url": platform_url(request)}
        return render(request, "errors/404.html", context, status=404)
