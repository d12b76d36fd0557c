"""Request monitoring: latency and status by route pattern, requests per tenant, one access log line each."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core.monitoring import metrics
from core.monitoring.logs import LogContext, log_context_reset, log_context_set, tenant_label

access_logger = logging.getLogger("bdt.request")

HEALTH_ROUTE = "api/v1/health"
# Label values must stay few: a client can send any method name, so unknown ones share one label.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(request: HttpRequest) -> str:
    """The route pattern that served ``request`` (``api/v1/studies/<study>/count``), never the raw path, so the
    metric's label values stay few. Requests that matched no route get a placeholder in angle brackets."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.route:
        return str(match.route)
    path = request.path
    if path.rstrip("/") == "/" + HEALTH_ROUTE:
        return HEALTH_ROUTE  # answered before URL resolution (works for any host)
    if path.startswith(settings.STATIC_URL):
        return "<static>"
    if getattr(request, "tenant", None) is None:
        return "<unknown_host>"
    return "<unmatched>"


class RequestMonitoringMiddleware:
    """Outermost after the request id: times every request (including the health shortcut and static files)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        token = log_context_set(LogContext(request_id=getattr(request, "request_id", ""), request=request))
        try:
            response = self.get_response(request)
            self._observe(request, response.status_code, time.perf_counter() - started)
            return response
        finally:
            log_context_reset(token)

    @staticmethod
    def _observe(request: HttpRequest, status: int, seconds: float) -> None:
        route = route_of(request)
        method = request.method if request.method in KNOWN_METHODS else "other"
        metrics.http_request_duration.labels(method, route).observe(seconds)
        metrics.http_requests.labels(method, route, str(status)).inc()
        tenant = tenant_label(getattr(request, "tenant", None))
        if tenant:
            metrics.tenant_http_requests.labels(tenant, f"{status // 100}xx").inc()
        access_logger.info(
            "%s %s %s %.1f ms",
            method,
            request.path,
            status,
            seconds * 1000,
            extra={"method": method, "route": route, "status": status, "duration_ms": round(seconds * 1000, 1)},
        )
