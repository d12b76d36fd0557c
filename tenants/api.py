"""API: the caller (``/me``) and their personal access tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from bdt_project.api_auth import principal
from bdt_project.errors import NotFound
from bdt_project.pagination import PagePagination
from tenants.models import ApiToken
from tenants.selectors import api_token_get_for_user, api_token_list_for_user
from tenants.tokens import api_token_create, api_token_revoke

router = Router(tags=["platform"])


class UserOut(Schema):
    email: str
    full_name: str


class TenantOut(Schema):
    slug: str
    name: str


class MeOut(Schema):
    user: UserOut
    tenant: TenantOut
    role: str
    auth: str = Field(description="How this request authenticated: token or session.")


@router.get("/me", response=MeOut)
def me(request: HttpRequest) -> dict[str, Any]:
    """The calling user, the tenant of this host and the caller's role in it."""
    caller = principal(request)
    return {
        "user": {"email": caller.user.email, "full_name": caller.user.full_name},
        "tenant": {"slug": caller.tenant.slug, "name": caller.tenant.name},
        "role": caller.role,
        "auth": "token" if caller.token else "session",
    }


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    status: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreateIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    expires_days: int | None = Field(None, ge=1, description="Lifetime in days (default from settings).")


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The secret; shown only in this response.")


def _token_out(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "status": token.status,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


@router.get("/tokens", response=list[TokenOut])
@paginate(PagePagination)
def token_list(request: HttpRequest) -> Any:
    """Your personal access tokens for this workspace (never their secrets)."""
    caller = principal(request)
    return api_token_list_for_user(user=caller.user, tenant=caller.tenant)


@router.post("/tokens", response={201: TokenCreatedOut})
def token_create(request: HttpRequest, payload: TokenCreateIn) -> Status[dict[str, Any]]:
    """Create a personal access token for this workspace; the secret is returned once."""
    caller = principal(request)
    created = api_token_create(
        user=caller.user, tenant=caller.tenant, name=payload.name, expires_days=payload.expires_days, request=request
    )
    return Status(201, {**_token_out(created.token), "token": created.plaintext})


@router.delete("/tokens/{token_id}", response=TokenOut)
def token_revoke(request: HttpRequest, token_id: int) -> dict[str, Any]:
    """Revoke one of your tokens; it stops working immediately."""
    caller = principal(request)
    token = api_token_get_for_user(user=caller.user, tenant=caller.tenant, token_id=token_id)
    if token is None:
        raise NotFound("No such token.")
    return _token_out(api_token_revoke(token=token, actor=caller.user, request=request))
