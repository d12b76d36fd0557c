"""The console's members page: invite, change roles, remove members, revoke invitations."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from approvals.console.common import flash_run, request_actor, steward_required
from tenants.members import invitation_revoke, member_invite, member_remove, member_role_change
from tenants.page_kit import request_tenant
from tenants.roles import Role
from tenants.selectors import invitation_list_for_user, member_list_for_user


@require_GET
@steward_required
def console_members(request: HttpRequest) -> HttpResponse:
    """Members and roles, pending invitations, and the invite form."""
    tenant = request_tenant(request)
    everyone = list(member_list_for_user(user=request_actor(request), tenant=tenant))
    q = request.GET.get("q", "").strip()[:200]
    needle = q.lower()
    members = [
        m
        for m in everyone
        if not needle or needle in m.user.email.lower() or needle in (m.user.full_name or "").lower()
    ]
    invitations = invitation_list_for_user(user=request_actor(request), tenant=tenant)
    is_owner = request.membership.role == Role.OWNER  # type: ignore[attr-defined]
    roles = [(value, label) for value, label in Role.choices if is_owner or value != Role.OWNER]
    return render(
        request,
        "console/members.html",
        {
            "tab": "members",
            "members": members,
            "total": len(everyone),
            "q": q,
            "invitations": invitations,
            "roles": roles,
            "is_owner": is_owner,
        },
    )


@require_POST
@steward_required
def console_member_invite(request: HttpRequest) -> HttpResponse:
    """Invite by e-mail (existing users are added at once)."""
    email = request.POST.get("email", "")
    role = request.POST.get("role", Role.ANALYST)
    flash_run(
        request,
        lambda: member_invite(
            tenant=request_tenant(request), actor=request_actor(request), email=email, role=role, request=request
        ),
        f"{email.strip()} was invited as {role}.",
    )
    return redirect("console_members")


@require_POST
@steward_required
def console_member_role(request: HttpRequest) -> HttpResponse:
    """Change one member's role."""
    email, role = request.POST.get("email", ""), request.POST.get("role", "")
    flash_run(
        request,
        lambda: member_role_change(
            tenant=request_tenant(request), actor=request_actor(request), email=email, role=role, request=request
        ),
        f"{email} is now {role}.",
    )
    return redirect("console_members")


@require_POST
@steward_required
def console_member_remove(request: HttpRequest) -> HttpResponse:
    """Remove a member (their tokens and session access end at once)."""
    email = request.POST.get("email", "")
    flash_run(
        request,
        lambda: member_remove(
            tenant=request_tenant(request), actor=request_actor(request), email=email, request=request
        ),
        f"{email} was removed.",
    )
    return redirect("console_members")


@require_POST
@steward_required
def console_invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    """Withdraw a pending invitation."""
    flash_run(
        request,
        lambda: invitation_revoke(
            tenant=request_tenant(request),
            actor=request_actor(request),
            invitation_id=invitation_id,
            request=request,
        ),
        "The invitation was withdrawn.",
    )
    return redirect("console_members")
