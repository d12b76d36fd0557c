"""API of the portal: the caller's workspaces on the platform host, a workspace's usage on its own host."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from portal.api_auth import caller
from portal.usage import usage_summary
from portal.workspaces import workspace_create, workspace_list_for_user, workspace_url
from tenants.api_auth import principal
from tenants.role_checks import role_require
from tenants.roles import Role

platform_router = Router(tags=["workspaces"])
workspace_router = Router(tags=["usage"])


class WorkspaceOut(Schema):
    slug: str
    name: str
    kind: str
    role: str
    url: str
    suspended: bool = False


class WorkspaceIn(Schema):
    slug: str
    name: str
    kind: str = "lab"


@platform_router.get("/workspaces", response=list[WorkspaceOut])
def workspaces_list(request: HttpRequest) -> list[dict[str, Any]]:
    """The caller's workspaces with their role and address."""
    return [entry.as_dict() for entry in workspace_list_for_user(user=caller(request), request=request)]


@platform_router.post("/workspaces", response={201: WorkspaceOut})
def workspaces_create(request: HttpRequest, payload: WorkspaceIn) -> Status[dict[str, Any]]:
    """Create a workspace (``kind`` lab or consortium chooses its sharing profile); the caller becomes its owner."""
    user = caller(request)
    tenant = workspace_create(user=user, slug=payload.slug, name=payload.name, kind=payload.kind, request=request)
    body = {
        "slug": tenant.slug,
        "name": tenant.name,
        "kind": tenant.kind,
        "role": Role.OWNER.value,
        "url": workspace_url(tenant, request),
        "suspended": False,
    }
    return Status(201, body)


class QuotaOut(Schema):
    storage_bytes: int | None
    members: int | None
    runs_per_day: int | None


class QuotaStateOut(Schema):
    quota: str
    used: int
    limit: int | None
    percent: int | None
    level: str


class UsageOut(Schema):
    storage_bytes: int
    datasets: int
    members: int
    counts_30d: int
    runs_30d: int
    exports_30d: int
    compute_seconds_30d: float
    runs_today: int
    quota: QuotaOut
    quotas: list[QuotaStateOut]
    warnings: list[str]


@workspace_router.get("/usage", response=UsageOut)
def usage_get(request: HttpRequest) -> dict[str, Any]:
    """The workspace's usage (storage, datasets, members; counts, runs, exports and compute over 30 days) and its
    quotas, with a warning past 80 % of one. Owners only."""
    who = principal(request)
    role_require(user=who.user, tenant=who.tenant, minimum=Role.OWNER, action="see the workspace's usage")
    return usage_summary(who.tenant)
