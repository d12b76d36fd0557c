"""The one NinjaAPI of the platform: closed by default, one error format, routers from each app."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled, ValidationError

from bdt_project.health import health_check
from core.errors import RETRY_AFTER_SECONDS, ApiError, data_error, database_failure, error_body
from tenants.api_auth import MemberSessionAuth, TenantRateThrottle, TokenAuth

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="BDT Platform API",
    version="1",
    description=(
        "Research data platform API. Authenticate with `Authorization: Bearer <token>` (a personal access token of "
        'this workspace) or the browser session. Errors are `{"error": {"code", "message", "details"}}`.'
    ),
    auth=[TokenAuth(), MemberSessionAuth()],
    throttle=[TenantRateThrottle()],
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)

STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid_input",
    429: "rate_limited",
}


def _error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> HttpResponse:
    return JsonResponse(error_body(code, message, details), status=status)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    response = _error(exc.status, exc.code, exc.message, exc.details)
    for name, value in exc.headers.items():
        response[name] = value
    return response


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {"loc": [str(part) for part in error.get("loc", [])], "message": str(error.get("msg", "invalid value"))}
        for error in exc.errors
    ]
    summary = "; ".join(f"{'.'.join(e['loc'][1:] or e['loc'])}: {e['message']}" for e in errors[:5])
    return _error(
        422, "invalid_input", f"Invalid input: {summary}" if summary else "Invalid input.", {"errors": errors}
    )


@api.exception_handler(AuthenticationError)
def _authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(401, "not_authenticated", "Authentication required: send a valid personal access token.")


@api.exception_handler(AuthorizationError)
def _authorization_error(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return _error(403, "forbidden", exc.message)


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    return _error(429, "rate_limited", "Too many requests; slow down and retry shortly.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = STATUS_CODES.get(exc.status_code, "error")
    message = exc.message
    if exc.status_code == 403 and "CSRF" in message:
        code, message = "csrf_failed", "CSRF check failed: send the X-CSRFToken header with the session's token."
    elif exc.status_code == 400 and "parse request body" in message:
        code, message = "malformed_json", "The request body is not valid JSON."
    return _error(exc.status_code, code, message)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(404, "not_found", "Not found.")


@api.exception_handler(ObjectDoesNotExist)
def _object_missing(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(404, "not_found", "Not found.")


@api.exception_handler(PermissionDenied)
def _permission_denied(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(403, "forbidden", "You do not have access to this.")


@api.exception_handler(MultiPartParserError)
def _malformed_multipart(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(
        400,
        "malformed_multipart",
        "The request body is not valid multipart/form-data (missing or wrong boundary, or cut off).",
    )


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: Exception) -> HttpResponse:
    if isinstance(exc, RequestDataTooBig):
        return _error(413, "too_large", "The request body is larger than this endpoint accepts.")
    return _error(400, "bad_request", "The request could not be understood.")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    refused = data_error(exc)
    if refused is not None:
        logger.warning("the database refused a value of an API request", exc_info=exc)
        return _error(*refused)
    failure = database_failure(exc)
    if failure is not None:
        logger.error("database failure during API request", exc_info=exc)
        status, code, message = failure
        response = _error(status, code, message)
        response["Retry-After"] = RETRY_AFTER_SECONDS
        return response
    logger.error("unhandled API error", exc_info=exc)
    return _error(
        500,
        "internal_error",
        "Something went wrong on our side. The error has been logged.",
        {"request_id": getattr(request, "request_id", "")},
    )


class HealthOut(Schema):
    status: str
    checks: dict[str, str]


@api.get("/health", auth=None, throttle=[], response={200: HealthOut, 503: HealthOut}, tags=["platform"])
def health(request: HttpRequest) -> Status[dict[str, Any]]:
    """Database and broker checks; open to anyone (the only unauthenticated endpoint)."""
    status, body = health_check()
    return Status(status, body)


def _register_routers() -> None:
    from access.activity_api import router as activity_router
    from access.api import router as access_router
    from analysis.api import router as analysis_router
    from approvals.api import router as approvals_router
    from audit.trail.api import router as audit_router
    from connectors.api import router as connectors_router
    from harmonization.api import router as harmonization_router
    from portal.api import workspace_router as usage_router
    from queries.api import router as queries_router
    from sharing.api import router as sharing_router
    from studies.api import router as datasets_router
    from tenants.api import router as tenants_router
    from tenants.settings_api import router as settings_router

    api.add_router("/", tenants_router)
    api.add_router("/", datasets_router)
    api.add_router("/", queries_router)
    api.add_router("/", audit_router)
    api.add_router("/", settings_router)
    api.add_router("/", approvals_router)
    api.add_router("/", access_router)
    api.add_router("/", activity_router)
    api.add_router("/", analysis_router)
    api.add_router("/", sharing_router)
    api.add_router("/", usage_router)
    api.add_router("/", connectors_router)
    api.add_router("/", harmonization_router)


_register_routers()
