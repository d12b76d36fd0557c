"""API: the caller (``/me``), their personal access tokens, and the workspace's members and invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from core.errors import NotFound
from core.pagination import PagePagination
from tenants.api_auth import principal
from tenants.emails import user_email_verified
from tenants.members import invitation_revoke, member_invite, member_remove, member_role_change
from tenants.models import ApiToken, Invitation, Membership
from tenants.selectors import (
    api_token_get_for_user,
    api_token_list_for_user,
    invitation_list_for_user,
    member_list_for_user,
)
from tenants.tokens import api_token_create, api_token_revoke

router = Router(tags=["platform"])


class UserOut(Schema):
    email: str
    full_name: str


class TenantOut(Schema):
    slug: str
    name: str
    kind: str = Field(description="lab | consortium")


class MeOut(Schema):
    user: UserOut
    tenant: TenantOut
    role: str
    auth: str = Field(description="How this request authenticated: token or session.")
    token_scope: str | None = Field(None, description="The token's scope (full, read, count); null for a session.")


@router.get("/me", response=MeOut)
def me(request: HttpRequest) -> dict[str, Any]:
    """The calling user, the tenant of this host and the caller's role in it."""
    caller = principal(request)
    return {
        "user": {"email": caller.user.email, "full_name": caller.user.full_name},
        "tenant": {"slug": caller.tenant.slug, "name": caller.tenant.name, "kind": caller.tenant.kind},
        "role": caller.role,
        "auth": "token" if caller.token else "session",
        "token_scope": caller.token.scope if caller.token else None,
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
    scope: str = Field(description="full | read (read-only) | count (count-level surfaces only)")
    parent: str | None = Field(description="Prefix of the token that created this one (it never outlives it).")

    @staticmethod
    def resolve_parent(obj: Any) -> str | None:
        if isinstance(obj, dict):
            return obj.get("parent")  # type: ignore[no-any-return]
        return obj.parent.prefix if obj.parent_id else None  # type: ignore[no-any-return]


# Longer than any configurable token lifetime (token_max_expiry_days answers with its own message below this), and
# small enough that the expiry date can be computed at all.
MAX_TOKEN_DAYS = 36_500


class TokenCreateIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    expires_days: int | None = Field(
        None,
        ge=1,
        le=MAX_TOKEN_DAYS,
        description="Lifetime in days (default from settings; never beyond the creating token's).",
    )
    scope: Literal["full", "read", "count"] = Field(
        "full", description="full, read (read-only) or count (count-level surfaces only); see docs/api.md."
    )


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
        "scope": token.scope,
        "parent": token.parent.prefix if token.parent_id and token.parent else None,
    }


@router.get("/tokens", response=list[TokenOut])
@paginate(PagePagination)
def token_list(request: HttpRequest) -> Any:
    """Your personal access tokens for this workspace (never their secrets)."""
    caller = principal(request)
    return api_token_list_for_user(user=caller.user, tenant=caller.tenant)


@router.post("/tokens", response={201: TokenCreatedOut})
def token_create(request: HttpRequest, payload: TokenCreateIn) -> Status[dict[str, Any]]:
    """Create a personal access token for this workspace; the secret is returned once. Created with a token, the
    new one is no broader than it and cannot outlive it (revoking it revokes the new one)."""
    caller = principal(request)
    created = api_token_create(
        user=caller.user,
        tenant=caller.tenant,
        name=payload.name,
        expires_days=payload.expires_days,
        scope=payload.scope,
        parent=caller.token,
        request=request,
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


RoleName = Literal["owner", "steward", "analyst", "viewer"]


class MemberOut(Schema):
    email: str
    full_name: str
    role: str
    joined_at: datetime
    email_verified: bool = Field(
        description="The member confirmed this address (only verified addresses count for invitations and grants)."
    )


class InvitationOut(Schema):
    id: int
    email: str
    role: str
    status: str
    invited_by: str | None
    created_at: datetime
    expires_at: datetime


class MemberInviteIn(Schema):
    email: str = Field(min_length=3, max_length=254)
    role: RoleName = "analyst"


class MemberInvitedOut(Schema):
    email: str
    role: str
    status: str = Field(description="member: an existing user was added now; invited: an accept link was e-mailed.")
    member: MemberOut | None
    invitation: InvitationOut | None


class MemberRoleIn(Schema):
    role: RoleName


def _email_verified(membership: Membership) -> bool:
    annotated = getattr(membership, "email_verified", None)  # member_list_for_user annotates it (no N+1)
    return bool(annotated) if annotated is not None else user_email_verified(membership.user)


def _member_out(membership: Membership) -> dict[str, Any]:
    return {
        "email": membership.user.email,
        "full_name": membership.user.full_name,
        "role": membership.role,
        "joined_at": membership.created_at,
        "email_verified": _email_verified(membership),
    }


def _invitation_out(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.pk,
        "email": invitation.email,
        "role": invitation.role,
        "status": invitation.status,
        "invited_by": invitation.invited_by.email if invitation.invited_by else None,
        "created_at": invitation.created_at,
        "expires_at": invitation.expires_at,
    }


@router.get("/members", response=list[MemberOut], tags=["governance"])
@paginate(PagePagination)
def member_list(request: HttpRequest) -> Any:
    """The workspace's members and their roles (steward or owner)."""
    caller = principal(request)
    return [_member_out(m) for m in member_list_for_user(user=caller.user, tenant=caller.tenant)]


@router.post("/members", response={201: MemberInvitedOut}, tags=["governance"])
def member_invite_endpoint(request: HttpRequest, payload: MemberInviteIn) -> Status[dict[str, Any]]:
    """Invite someone by e-mail with a role: an existing user is added now, anyone else gets an accept link."""
    caller = principal(request)
    result = member_invite(
        tenant=caller.tenant, actor=caller.user, email=payload.email, role=payload.role, request=request
    )
    return Status(
        201,
        {
            "email": result.email,
            "role": result.role,
            "status": result.status,
            "member": _member_out(result.membership) if result.membership else None,
            "invitation": _invitation_out(result.invitation) if result.invitation else None,
        },
    )


@router.patch("/members/{email}", response=MemberOut, tags=["governance"])
def member_update(request: HttpRequest, email: str, payload: MemberRoleIn) -> dict[str, Any]:
    """Change a member's role (steward or owner; only owners make or unmake owners; never the last owner)."""
    caller = principal(request)
    membership = member_role_change(
        tenant=caller.tenant, actor=caller.user, email=email, role=payload.role, request=request
    )
    return _member_out(membership)


@router.delete("/members/{email}", response={204: None}, tags=["governance"])
def member_delete(request: HttpRequest, email: str) -> Status[None]:
    """Remove a member: their tokens stop working and their session loses access at once."""
    caller = principal(request)
    member_remove(tenant=caller.tenant, actor=caller.user, email=email, request=request)
    return Status(204, None)


@router.get("/invitations", response=list[InvitationOut], tags=["governance"])
@paginate(PagePagination)
def invitation_list(request: HttpRequest) -> Any:
    """Pending invitations of the workspace (steward or owner)."""
    caller = principal(request)
    return [_invitation_out(i) for i in invitation_list_for_user(user=caller.user, tenant=caller.tenant)]


@router.delete("/invitations/{invitation_id}", response=InvitationOut, tags=["governance"])
def invitation_delete(request: HttpRequest, invitation_id: int) -> dict[str, Any]:
    """Withdraw a pending invitation; its link stops working."""
    caller = principal(request)
    invitation = invitation_revoke(
        tenant=caller.tenant, actor=caller.user, invitation_id=invitation_id, request=request
    )
    return _invitation_out(invitation)
