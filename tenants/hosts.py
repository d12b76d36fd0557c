"""Host names and links between the platform host and workspace hosts."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def workspace_domain() -> str:
    """The domain workspace hosts live under: ``BDT_WORKSPACE_DOMAIN``, else the platform host without its first
    label (``platform.example.org`` -> ``example.org``; ``platform.localhost`` -> ``localhost``)."""
    configured = str(getattr(settings, "WORKSPACE_DOMAIN", "") or "").strip().lower().strip(".")
    if configured:
        return configured
    public = settings.PUBLIC_DOMAIN
    return public.split(".", 1)[1] if "." in public else public


def workspace_host(slug: str) -> str:
    """The host a new workspace ``slug`` is served at."""
    return f"{slug}.{workspace_domain()}"


def _port_suffix(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    host = request.get_host()
    port = host.rsplit(":", 1)[1] if ":" in host and not host.endswith("]") else ""
    default = "443" if request.is_secure() else "80"
    return f":{port}" if port and port != default else ""


def host_url(host: str, request: HttpRequest | None = None, path: str = "/") -> str:
    """``http(s)://host[:port]/path``, with the scheme and port of ``request`` (the same server serves every host)."""
    scheme = request.scheme if request is not None else ("https" if not settings.DEBUG else "http")
    return f"{scheme}://{host}{_port_suffix(request)}{path}"


def platform_url(request: HttpRequest | None = None, path: str = "/") -> str:
    """A link to the platform host (sign-in, sign-up, "My workspaces")."""
    return host_url(settings.PUBLIC_DOMAIN, request, path)
