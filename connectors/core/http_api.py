"""HTTP for API connectors (REDCap, LORIS): the host checked and pinned, no redirects, rate limits respected."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from connectors.core.contract_errors import ConnectorError
from connectors.core.network import NetworkPolicy, pinned, resolve

MAX_RETRIES = 5
MAX_WAIT_SECONDS = 60.0
MAX_BODY_BYTES = 512 * 1024**2  # one answer (a records export is written to the pull's CSV after it)


def base_url_clean(url: str) -> tuple[str, str, int]:
    """``(url, host, port)`` of an http(s) address (422-style ``invalid_config`` otherwise)."""
    parts = urlsplit(str(url or "").strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.username or parts.password:
        raise ConnectorError("invalid_config", "The URL must be an http(s) address without credentials.")
    return parts.geturl(), parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def request(
    policy: NetworkPolicy,
    method: str,
    url: str,
    *,
    timeout: float,
    sleep: Any = time.sleep,
    max_bytes: int = MAX_BODY_BYTES,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request to the checked address; on 429/503 wait ``Retry-After`` (bounded) and try again. The
    answer's body is read within ``max_bytes`` and ``timeout`` seconds in all (a server sending slowly or without
    end is cut off: ``connection_failed``)."""
    _, host, port = base_url_clean(url)
    address = resolve(policy, host, port)
    with pinned(host, address), httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for attempt in range(MAX_RETRIES + 1):
            try:
                response = _bounded(client, method, url, host, timeout=timeout, max_bytes=max_bytes, **kwargs)
            except httpx.HTTPError:
                raise ConnectorError("connection_failed", f"Could not reach {host}.") from None
            if response.status_code in {429, 503} and attempt < MAX_RETRIES:
                sleep(_retry_after(response, attempt))
                continue
            return response
    raise ConnectorError("rate_limited", f"{host} kept refusing requests (rate limit).")  # pragma: no cover


def _bounded(
    client: httpx.Client, method: str, url: str, host: str, *, timeout: float, max_bytes: int, **kwargs: Any
) -> httpx.Response:
    """One request whose body is read in chunks, at most ``max_bytes`` and within ``timeout`` seconds in all."""
    deadline = time.monotonic() + timeout
    with client.stream(method, url, **kwargs) as streamed:
        body = bytearray()
        for chunk in streamed.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise ConnectorError(
                    "connection_failed", f"{host} sent more than {max_bytes // 1024**2:,} MB in one answer."
                )
            if time.monotonic() > deadline:
                raise ConnectorError("connection_failed", f"{host} took longer than {timeout:.0f} s to answer.")
        return httpx.Response(
            streamed.status_code, headers=streamed.headers, content=bytes(body), request=streamed.request
        )


def _retry_after(response: httpx.Response, attempt: int) -> float:
    try:
        wait = float(response.headers.get("Retry-After", ""))
    except ValueError:
        wait = 2.0**attempt
    return max(0.0, min(wait, MAX_WAIT_SECONDS))
