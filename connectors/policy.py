"""The platform's side of the network policy: the operator's setting and the platform's own service endpoints."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from functools import cache
from urllib.parse import urlsplit

from django.conf import settings

from connectors.core import ConnectContext, NetworkPolicy
from connectors.core.network import _original_getaddrinfo
from core.config import config_get


def _endpoints() -> Iterator[tuple[str, int]]:
    """Host and port of the database, the broker/cache and the object storage endpoint."""
    database = settings.DATABASES["default"]
    if database.get("HOST"):
        yield str(database["HOST"]), int(database.get("PORT") or 5432)
    for url in (getattr(settings, "REDIS_URL", ""), getattr(settings, "CELERY_BROKER_URL", "")):
        parts = urlsplit(str(url or ""))
        if parts.hostname:
            yield parts.hostname, parts.port or 6379
    options = settings.STORAGES.get("default", {}).get("OPTIONS", {})
    endpoint = urlsplit(str(options.get("endpoint_url") or ""))
    if endpoint.hostname:
        yield endpoint.hostname, endpoint.port or (443 if endpoint.scheme == "https" else 80)


@cache
def platform_endpoints() -> frozenset[tuple[str, int]]:
    """Addresses of the platform's own services (resolved once per process)."""
    found: set[tuple[str, int]] = set()
    for host, port in _endpoints():
        if host.startswith("/"):
            continue  # a Unix socket
        try:
            infos = _original_getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            continue
        found.update((str(info[4][0]), port) for info in infos)
    return frozenset(found)


def network_policy() -> NetworkPolicy:
    """``BDT_CONNECTOR_NETWORKS`` (production default ``public``) plus the platform's endpoints, always refused."""
    return NetworkPolicy.parse(settings.BDT_CONNECTOR_NETWORKS, platform_endpoints())


def connect_context(progress: object | None = None) -> ConnectContext:
    context = ConnectContext(network=network_policy(), timeout_seconds=float(config_get("connector_timeout_seconds")))
    if progress is not None:
        context.progress = progress  # type: ignore[assignment]
    return context
