"""Exceptions of the client: every API error carries the platform's code, message and details."""

from __future__ import annotations

from typing import Any


class BdtError(Exception):
    """Base class of every error raised by ``bdt_client``."""


class ConfigurationError(BdtError):
    """No platform URL or token could be found (arguments, environment, config file), or the config is invalid."""


class TransportError(BdtError):
    """The platform could not be reached (connection refused, DNS, TLS, timeout) after the allowed retries."""


class ApiError(BdtError):
    """The platform answered with an error: ``{"error": {"code", "message", "details"}}`` and an HTTP status.

    ``code`` is the platform's stable snake_case code (e.g. ``unknown_column``, ``purpose_required``);
    ``request_id`` is the platform's id of the request (quote it when reporting a problem).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        method: str = "",
        path: str = "",
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}
        self.method = method
        self.path = path
        self.request_id = request_id

    def __str__(self) -> str:
        where = f" [{self.method} {self.path}]" if self.method else ""
        return f"{self.message} ({self.status} {self.code}){where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class BadRequest(ApiError):
    """400: the request could not be understood (e.g. malformed JSON)."""


class InvalidInput(ApiError):
    """422 (or 400): the request is well-formed but its content is invalid; ``details`` names the problem."""


class AuthenticationFailed(ApiError):
    """401: no token, an unknown/expired/revoked token, or a token of another workspace."""


class PermissionDenied(ApiError):
    """403: the object is known to you but your role or access level does not allow this action."""


class NotFound(ApiError):
    """404: the object does not exist, or you may not see it (the platform does not tell the two apart)."""


class Conflict(ApiError):
    """409: the request conflicts with the current state (e.g. rows of a run that has not succeeded)."""


class TooLarge(ApiError):
    """413: the upload exceeds the workspace's size limit or storage quota."""


class RateLimited(ApiError):
    """429: too many requests; ``retry_after`` is the wait the platform asked for, in seconds (if it said)."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(ApiError):
    """503 (or 502/504): the platform is busy or a dependency is down; ``retry_after`` as for :class:`RateLimited`."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiError):
    """500 or another unexpected status: the platform logged the error under ``request_id``."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: InvalidInput,
    429: RateLimited,
    502: ServiceUnavailable,
    503: ServiceUnavailable,
    504: ServiceUnavailable,
}


def error_class_for(status: int) -> type[ApiError]:
    """The exception class for an HTTP error status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else ApiError


class JobError(BdtError):
    """A query run or an ingest ended without succeeding; ``code``/``message`` are the platform's reason."""

    def __init__(
        self, kind: str, job_id: int, status: str, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{kind} {job_id} {status}: {message} ({code})" if message else f"{kind} {job_id} {status}")
        self.kind = kind
        self.job_id = job_id
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}


class RunFailed(JobError):
    """A query run failed (``code`` e.g. ``timeout``, ``too_many_rows``, ``worker_lost``)."""


class RunCancelled(JobError):
    """A query run was cancelled."""


class IngestFailed(JobError):
    """An ingest failed; nothing was registered (``code`` e.g. ``duplicate_keys``, ``parse_error``)."""


class WaitTimeout(BdtError):
    """Waiting for a run or an ingest took longer than the given ``timeout``; the job itself goes on."""

    def __init__(self, kind: str, job_id: int, status: str, timeout: float) -> None:
        super().__init__(f"{kind} {job_id} is still {status} after {timeout:g} s")
        self.kind = kind
        self.job_id = job_id
        self.status = status
        self.timeout = timeout
