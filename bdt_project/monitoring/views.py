"""``GET /metrics`` on the platform host: Prometheus text format, only with the operators' bearer token."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from bdt_project.monitoring.collectors import CeleryQueueCollector, WorkInProgressCollector
from core.errors import error_body
from core.monitoring import metrics


def metrics_registry() -> CollectorRegistry:
    """Every process's samples from the metrics directory, plus the scrape-time collectors."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics.METRICS_DIR))
    registry.register(CeleryQueueCollector())
    registry.register(WorkInProgressCollector())
    return registry


def _refusal(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse(error_body(code, message), status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@csrf_exempt  # read-only, token-authenticated: any other method answers 405, not a CSRF page
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Answer 404 when no token is configured, 401 without a bearer token, 403 with a wrong one."""
    expected = settings.METRICS_TOKEN
    if not expected:
        return _refusal(404, "not_found", "Not found.")
    scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return _refusal(401, "not_authenticated", "Send the metrics token as `Authorization: Bearer <token>`.")
    if not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        return _refusal(403, "forbidden", "This token does not give access to the metrics.")
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)
