"""API: the workspace's settings overrides (``GET`` stewards and owners, ``PATCH`` owners; audited)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Body, Router

from tenants.api_auth import principal
from tenants.workspace_settings import tenant_settings_for_user, tenant_settings_update

router = Router(tags=["workspace settings"])


@router.get("/settings", response=dict[str, dict[str, Any]])
def settings_get(request: HttpRequest) -> dict[str, Any]:
    """Every setting a workspace may override: effective value, this workspace's override, meaning."""
    caller = principal(request)
    return tenant_settings_for_user(user=caller.user, tenant=caller.tenant)


@router.patch("/settings", response=dict[str, dict[str, Any]])
def settings_patch(request: HttpRequest, changes: Body[dict[str, Any]]) -> dict[str, Any]:
    """Set overrides (``{"suppression_threshold": 5}``); ``null`` removes one. Owners only."""
    caller = principal(request)
    tenant = tenant_settings_update(tenant=caller.tenant, actor=caller.user, changes=changes, request=request)
    return tenant_settings_for_user(user=caller.user, tenant=tenant)
