"""The platform host's API (``/api/v1/`` on ``BDT_PUBLIC_DOMAIN``): the signed-in person's workspaces.

It shares the workspace API's error format (the same exception handlers) but authenticates people, not members:
the browser session on the platform host or a platform token (``token_create --platform``)."""

from __future__ import annotations

from ninja import NinjaAPI

from bdt_project.api import api
from portal.api import platform_router
from portal.api_auth import PlatformSessionAuth, PlatformTokenAuth
from tenants.api_auth import TenantRateThrottle

platform_api = NinjaAPI(
    title="BDT Platform API (platform host)",
    version="1",
    description="Your workspaces: list them and create new ones. Authenticate with the browser session or "
    "`Authorization: Bearer <platform token>`.",
    auth=[PlatformTokenAuth(), PlatformSessionAuth()],
    throttle=[TenantRateThrottle()],
    urls_namespace="platform-api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
for _exception, _handler in api._exception_handlers.items():
    platform_api.add_exception_handler(_exception, _handler)
platform_api.add_router("/", platform_router)
