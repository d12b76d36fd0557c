"""The platform's error vocabulary: one JSON shape for every API error, and HTML error views."""

from __future__ import annotations

import errno
import logging
import sys
from typing import Any

import redis
from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from psycopg import errors as pg_errors

logger = logging.getLogger(__name__)


# Error messages and details quote what the caller sent (an unknown column, a bad sort key, a stray e-mail).
# Every quoted piece is bounded here, in the one place errors are shaped, so no endpoint or field can echo unbounded
# input back (or into a log line or page): longer strings are cut with an ellipsis, long lists are cut too.
MESSAGE_MAX_CHARS = 500
DETAIL_MAX_CHARS = 200
DETAIL_MAX_ITEMS = 50
DETAIL_MAX_DEPTH = 6
ELLIPSIS = "…"


def text_bounded(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (the cut marked with an ellipsis)."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def details_bounded(value: Any, depth: int = 0) -> Any:
    """A copy of error ``details`` whose strings, keys, lists and nesting are all bounded."""
    if isinstance(value, str):
        return text_bounded(value, DETAIL_MAX_CHARS)
    if depth >= DETAIL_MAX_DEPTH:
        return ELLIPSIS
    if isinstance(value, dict):
        items = list(value.items())
        bounded = {
            text_bounded(str(key), DETAIL_MAX_CHARS): details_bounded(item, depth + 1)
            for key, item in items[:DETAIL_MAX_ITEMS]
        }
        if len(items) > DETAIL_MAX_ITEMS:
            bounded[ELLIPSIS] = f"{len(items) - DETAIL_MAX_ITEMS} more"
        return bounded
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        bounded_items = [details_bounded(item, depth + 1) for item in items[:DETAIL_MAX_ITEMS]]
        if len(items) > DETAIL_MAX_ITEMS:
            bounded_items.append(f"{ELLIPSIS} {len(items) - DETAIL_MAX_ITEMS} more")
        return bounded_items
    return value


class ApiError(Exception):
    """An error a service raises for the API/pages to report: status, stable code, and a human sentence.

    The message and details are bounded on construction (pages show them too), and again in :func:`error_body`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        message = text_bounded(str(message), MESSAGE_MAX_CHARS)
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details_bounded(details or {})
        self.headers = headers or {}  # e.g. Retry-After on 429 and 503


class NotFound(ApiError):
    """The object does not exist, or the caller may not see it (the two are indistinguishable on purpose)."""

    def __init__(self, message: str = "Not found.", details: dict[str, Any] | None = None) -> None:
        super().__init__(404, "not_found", message, details)


class Forbidden(ApiError):
    """The caller is known and may see the object, but lacks the level or role for this action."""

    def __init__(self, message: str, code: str = "forbidden", details: dict[str, Any] | None = None) -> None:
        super().__init__(403, code, message, details)


class Conflict(ApiError):
    """The request conflicts with the current state."""

    def __init__(self, message: str, code: str = "conflict", details: dict[str, Any] | None = None) -> None:
        super().__init__(409, code, message, details)


class InvalidInput(ApiError):
    """The request is well-formed but its content is invalid."""

    def __init__(self, message: str, code: str = "invalid_input", details: dict[str, Any] | None = None) -> None:
        super().__init__(422, code, message, details)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of every API error (message and details bounded: no unbounded echo of input)."""
    return {
        "error": {
            "code": code,
            "message": text_bounded(str(message), MESSAGE_MAX_CHARS),
            "details": details_bounded(details or {}),
        }
    }


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


# Conflicts between concurrent transactions (deadlock, serialization failure, lock wait): nothing was committed and
# the same request succeeds when sent again, so they answer 503 with Retry-After rather than a bare 500.
TRANSIENT_CONFLICTS = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure, pg_errors.LockNotAvailable)
RETRY_AFTER_SECONDS = "2"


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_DISK_FULL_TEXT = ("no space left on device", "disk quota exceeded", "file too large")


def disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says the disk, a quota or a file-size limit is full."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if any(text in str(exc).lower() for text in _DISK_FULL_TEXT):  # engines report it as text (DuckDB IO errors)
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


STORAGE_FULL_MESSAGE = "The server ran out of storage space; nothing was saved. Try again later."


def database_failure(exc: BaseException | None) -> tuple[int, str, str] | None:
    """(status, code, message) for a failure of a backing service the client may retry (database, Redis, a full
    disk), or None for any other error."""
    if disk_full(exc):
        return 507, "storage_full", STORAGE_FULL_MESSAGE
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return 503, "service_unavailable", "The platform's cache or queue is unavailable. Try again shortly."
    if isinstance(exc, DatabaseError) and isinstance(exc.__cause__, TRANSIENT_CONFLICTS):
        return 503, "busy", "The platform was busy with a conflicting change; nothing was saved. Try again."
    if isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DatabaseError) and "connection" in str(exc).lower()
    ):
        return 503, "service_unavailable", "The platform's database is unavailable. Try again shortly."
    return None


def data_error(exc: BaseException | None) -> tuple[int, str, str] | None:
    """(status, code, message) when the database refused a value of the request (out of range, too long, not
    representable): the input is invalid, nothing was saved by the failed statement."""
    if isinstance(exc, DataError):
        return 422, "invalid_input", "A value in the request is out of range or too long for its field."
    return None


def server_error(request: HttpRequest) -> HttpResponse:
    """500 handler: a clear page (or JSON) without any internals; 503 (+ Retry-After) for retryable DB failures."""
    failure = database_failure(sys.exc_info()[1])
    status, code, message = failure or (
        500,
        "internal_error",
        "Something went wrong on our side. The error has been logged.",
    )
    response: HttpResponse
    if _wants_json(request):
        response = JsonResponse(
            error_body(code, message, {"request_id": getattr(request, "request_id", "")}), status=status
        )
    else:
        try:
            response = render(
                request,
                f"errors/{status}.html",
                {"request_id": getattr(request, "request_id", ""), "message": message if failure else ""},
                status=status,
            )
        except Exception:  # noqa: BLE001 - the error page itself must never fail
            response = HttpResponse(message, status=status, content_type="text/plain")
    if failure:
        response["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404 handler."""
    if _wants_json(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return render(request, "errors/404.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """403 handler."""
    if _wants_json(request):
        return JsonResponse(error_body("forbidden", "You do not have access to this."), status=403)
    return render(request, "errors/403.html", status=403)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """400 handler."""
    if _wants_json(request):
        return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)
    return render(request, "errors/400.html", status=400)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF failure view (no internals)."""
    if _wants_json(request):
        return JsonResponse(
            error_body("csrf_failed", "CSRF verification failed. Reload the page and retry."), status=403
        )
    return render(request, "errors/403.html", {"csrf": True}, status=403)
