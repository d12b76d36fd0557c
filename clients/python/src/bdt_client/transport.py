"""The HTTP layer: bearer auth, timeouts, the platform's error format, retries on 429/503 with Retry-After, and
streamed downloads.

Retry rules (bounded by :class:`RetryPolicy`):

- 429 (rate limited): any request, since the platform refused it before doing any work; the wait is the
  ``Retry-After`` the platform sent, or an exponential backoff when it sent none;
- 503 ``busy`` (a conflicting change; the platform says nothing was saved): any request;
- 502/503/504 otherwise, and a connection lost after the request was sent: idempotent requests only (GET, PUT,
  DELETE, and the POSTs that only read: counts, reports, analyses, cancel);
- a connection that could not be opened: any request (nothing was sent).

A ``Retry-After`` longer than ``max_wait`` is not waited out: the error is raised at once with ``retry_after``.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from bdt_client.config import API_PREFIX, Credentials
from bdt_client.errors import ApiError, BdtError, RateLimited, ServiceUnavailable, TransportError, error_class_for
from bdt_client.version import __version__

logger = logging.getLogger("bdt_client")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_ANY_METHOD_STATUSES = frozenset({429})
RETRY_IDEMPOTENT_STATUSES = frozenset({502, 503, 504})
NOTHING_SAVED_CODES = frozenset({"busy"})  # 503 codes whose message guarantees that nothing was written
DOWNLOAD_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. ``max_retries=0`` turns retries off."""

    max_retries: int = 5
    max_wait: float = 60.0  # longest single wait; a longer Retry-After is raised at once instead
    backoff: float = 0.5  # first wait when the platform gives no Retry-After; doubles with each retry
    connection_retries: int = 2  # a refused or broken connection is rarely fixed by waiting long


@dataclass(frozen=True)
class RetryEvent:
    """One retry about to happen (passed to ``on_retry`` callbacks and logged)."""

    attempt: int  # 1 for the first retry
    method: str
    path: str
    status: int | None  # None when the connection failed
    code: str
    wait: float


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110); None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def retry_wait(
    policy: RetryPolicy,
    *,
    attempt: int,
    method: str,
    idempotent: bool | None,
    status: int,
    code: str,
    retry_after: float | None,
) -> float | None:
    """Seconds to wait before retry number ``attempt`` of a request that got ``status``; None = do not retry."""
    if attempt > policy.max_retries:
        return None
    safe = idempotent if idempotent is not None else method.upper() in IDEMPOTENT_METHODS
    retryable = (
        status in RETRY_ANY_METHOD_STATUSES
        or (status == 503 and code in NOTHING_SAVED_CODES)
        or (status in RETRY_IDEMPOTENT_STATUSES and safe)
    )
    if not retryable:
        return None
    if retry_after is not None:
        return retry_after if retry_after <= policy.max_wait else None
    return min(policy.max_wait, policy.backoff * 2.0 ** (attempt - 1) * random.uniform(1.0, 1.25))


def _error_from(response: httpx.Response, method: str, path: str) -> ApiError:
    """The exception for an error response, from the platform's ``{"error": {...}}`` body when it has one."""
    status = response.status_code
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        code = error["code"]
        message = str(error.get("message") or response.reason_phrase)
        details = error.get("details") if isinstance(error.get("details"), dict) else {}
    elif response.is_redirect:  # e.g. http -> https: the token is never sent on to another address
        code = f"http_{status}"
        location = response.headers.get("Location", "")
        message = f"The platform redirects to {location}: use that address as the URL."
        details = {"location": location}
    else:  # not the platform's answer (a proxy, a load balancer): no body text, it may be a whole HTML page
        code = f"http_{status}"
        message = f"HTTP {status} {response.reason_phrase}".strip()
        details = {}
    cls = error_class_for(status)
    request_id = response.headers.get("X-Request-ID") or (details or {}).get("request_id") or None
    kwargs: dict[str, Any] = {"method": method, "path": path, "request_id": request_id}
    if issubclass(cls, RateLimited | ServiceUnavailable):
        kwargs["retry_after"] = retry_after_seconds(response.headers.get("Retry-After"))
    return cls(status, code, message, details, **kwargs)


class LocalhostTransport(httpx.HTTPTransport):
    """Sends requests for ``*.localhost`` names to 127.0.0.1 (keeping the ``Host`` header), as browsers and curl do.

    Workspaces are told apart by host name, and ``make run`` serves them as ``<workspace>.localhost``, which the
    system resolver may not know.
    """

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host.endswith(".localhost"):
            request.extensions = {**request.extensions, "sni_hostname": host}  # TLS still checks the name
            request.url = request.url.copy_with(host="127.0.0.1")
        return super().handle_request(request)


@dataclass(frozen=True)
class Download:
    """A file written by a streamed download."""

    path: Path
    size: int
    sha256: str
    filename: str  # the name the platform suggested (Content-Disposition), or the target's name
    headers: Mapping[str, str] = field(repr=False, default_factory=dict)


MultipartFactory = Callable[[], dict[str, Any]]  # fresh ``files`` for each attempt (file objects are consumed)


class Transport:
    """One workspace's API over HTTP: ``request`` returns successful responses and raises :class:`ApiError`."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        verify: bool | str = True,
        on_retry: Callable[[RetryEvent], None] | None = None,
        http_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=credentials.url + API_PREFIX,
            headers={
                "Authorization": f"Bearer {credentials.token}",
                "User-Agent": f"bdt-client/{__version__} httpx/{httpx.__version__}",
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            transport=http_transport or LocalhostTransport(verify=verify),
            follow_redirects=False,  # never carry the token to another address
        )

    def close(self) -> None:
        self._http.close()

    def _timeout(self, seconds: float) -> httpx.Timeout:
        return httpx.Timeout(seconds, connect=min(10.0, self.timeout))

    def _pause(self, event: RetryEvent) -> None:
        logger.info(
            "retrying %s %s in %.2f s (attempt %d, %s)",
            event.method,
            event.path,
            event.wait,
            event.attempt,
            event.status or event.code,
        )
        if self.on_retry is not None:
            self.on_retry(event)
        time.sleep(event.wait)

    def _connection_wait(self, exc: httpx.TransportError, attempt: int, method: str, idempotent: bool | None) -> float:
        """Seconds before retrying after a network failure, or raise :class:`TransportError`."""
        nothing_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        safe = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
        limit = min(self.retry.max_retries, self.retry.connection_retries)
        if attempt > limit or not (nothing_sent or safe):
            if isinstance(exc, httpx.TimeoutException) and not nothing_sent:
                raise TransportError(
                    f"No answer from {self.credentials.url} in time ({exc.__class__.__name__}); "
                    "the request may still have been carried out."
                ) from exc
            raise TransportError(f"Cannot reach {self.credentials.url}: {exc.__class__.__name__}: {exc}") from exc
        return min(self.retry.max_wait, self.retry.backoff * 2.0 ** (attempt - 1))

    @contextmanager
    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: MultipartFactory | None = None,
        idempotent: bool | None = None,
        timeout: float | None = None,
    ) -> Iterator[httpx.Response]:
        """Send with retries; yields the open (streamed) successful response."""
        method = method.upper()
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            attempt += 1
            parts = files() if files is not None else None
            try:
                request = self._http.build_request(
                    method,
                    path,
                    params=clean_params,
                    json=json,
                    data=data,
                    files=parts,
                    timeout=self._timeout(timeout) if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                pause = self._connection_wait(exc, attempt, method, idempotent)
                self._pause(RetryEvent(attempt, method, path, None, exc.__class__.__name__, pause))
                continue
            finally:
                _close_files(parts)
            try:
                if response.is_success:
                    yield response
                    return
                try:
                    response.read()
                except httpx.TransportError as exc:
                    raise TransportError(f"The connection broke while reading the answer to {path}: {exc}") from exc
                error = _error_from(response, method, path)
            finally:
                response.close()
            wait = retry_wait(
                self.retry,
                attempt=attempt,
                method=method,
                idempotent=idempotent,
                status=error.status,
                code=error.code,
                retry_after=getattr(error, "retry_after", None),
            )
            if wait is None:
                raise error
            self._pause(RetryEvent(attempt, method, path, error.status, error.code, wait))

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return its decoded JSON body (None for 204)."""
        with self._send(method, path, **kwargs) as response:
            try:
                response.read()
            except httpx.TransportError as exc:
                raise TransportError(f"The connection broke while reading {path}: {exc}") from exc
            if response.status_code == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError as exc:
                raise BdtError(
                    f"The answer to {path} is not JSON: is {self.credentials.url} the address of a workspace?"
                ) from exc

    def paginate(self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int = 1000) -> Iterator[Any]:
        """Every item of a paginated list (``{"items", "page", "page_size", "total"}``), page after page."""
        page = 1
        while True:
            body = self.request("GET", path, params={**(params or {}), "page": page, "page_size": page_size})
            items = body.get("items") or []
            yield from items
            if not items or page * page_size >= int(body.get("total") or 0):
                return
            page += 1

    def download(
        self,
        path: str,
        target: Path,
        *,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> Download:
        """Stream a file to ``target`` (written to a temporary name and renamed only when complete and verified)."""
        target = Path(target)
        partial = target.with_name(f".{target.name}.part")
        digest = hashlib.sha256()
        size = 0
        with self._send("GET", path, params=params, timeout=timeout) as response:
            total = int(response.headers["Content-Length"]) if "Content-Length" in response.headers else None
            try:
                with partial.open("wb") as handle:
                    for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
                        handle.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        if progress is not None:
                            progress(size, total)
                expected = response.headers.get("X-Content-SHA256")
                if expected and expected.lower() != digest.hexdigest():
                    raise BdtError(f"The download of {path} is corrupt: its SHA-256 differs from the platform's.")
            except httpx.TransportError as exc:
                partial.unlink(missing_ok=True)
                raise TransportError(f"The download of {path} broke off after {size} bytes: {exc}") from exc
            except BaseException:  # interrupted or corrupt: never leave a partial file behind
                partial.unlink(missing_ok=True)
                raise
            os.replace(partial, target)
            return Download(
                path=target,
                size=size,
                sha256=digest.hexdigest(),
                filename=_attachment_name(response.headers.get("Content-Disposition")) or target.name,
                headers=dict(response.headers),
            )


def _close_files(parts: dict[str, Any] | None) -> None:
    """Close the file objects of a multipart body once it has been sent."""
    for value in (parts or {}).values():
        handle = value[1] if isinstance(value, tuple) and len(value) > 1 else value
        close = getattr(handle, "close", None)
        if callable(close):
            close()


def _attachment_name(disposition: str | None) -> str | None:
    """The file name of a ``Content-Disposition: attachment; filename="..."`` header."""
    if not disposition:
        return None
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value:
            return os.path.basename(value.strip().strip('"'))
    return None
