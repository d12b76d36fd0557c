"""Pages of the platform host for everyone: the start page ("My workspaces"), creating a workspace, opening one."""

from __future__ import annotations

import time
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.config import config_get
from core.errors import ApiError
from portal.workspaces import (
    creation_allowed,
    invitation_accept_for_user,
    invitations_pending_for_user,
    workspace_create,
    workspace_list_for_user,
)
from tenants.handoff import handoff_ticket_create, handoff_ticket_redeem
from tenants.hosts import host_url, workspace_domain
from tenants.models import Membership, Tenant, User, WorkspaceKind

BACKEND = "tenants.auth_backends.VerifiedEmailBackend"


@require_GET
def platform_home(request: HttpRequest) -> HttpResponse:
    """Signed in: your workspaces with your role, pending invitations, "Create a workspace". Visitors: sign in or up."""
    context: dict[str, Any] = {"signup_open": bool(config_get("self_signup_allowed"))}
    if request.user.is_authenticated:
        allowed, why = creation_allowed(request.user)
        context.update(
            workspaces=workspace_list_for_user(user=request.user, request=request),  # type: ignore[arg-type]
            invitations=invitations_pending_for_user(user=request.user),  # type: ignore[arg-type]
            can_create=allowed,
            cannot_create_reason=why,
        )
    return render(request, "portal/home.html", context)


def _open_workspace(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    host = tenant.primary_domain_name() or ""
    ticket = handoff_ticket_create(user=request.user, host=host)  # type: ignore[arg-type]
    return redirect(host_url(host, request, f"/accounts/handoff/{ticket}/"))


@login_required
@require_http_methods(["GET", "POST"])
def workspace_new(request: HttpRequest) -> HttpResponse:
    """Create a workspace: address, name and kind (its sharing profile); the creator lands in it as its owner."""
    allowed, why = creation_allowed(request.user)
    context: dict[str, Any] = {
        "allowed": allowed,
        "why": why,
        "domain": workspace_domain(),
        "kinds": WorkspaceKind.choices,
        "values": {"kind": WorkspaceKind.LAB},
    }
    if request.method == "POST" and allowed:
        values = {key: request.POST.get(key, "").strip() for key in ("slug", "name", "kind")}
        context["values"] = values
        try:
            tenant = workspace_create(
                user=request.user,  # type: ignore[arg-type]
                slug=values["slug"],
                name=values["name"],
                kind=values["kind"] or WorkspaceKind.LAB,
                request=request,
            )
        except ApiError as exc:
            context["error"] = exc
            return render(request, "portal/workspace_new.html", context, status=exc.status)
        return _open_workspace(request, tenant)
    return render(request, "portal/workspace_new.html", context, status=200 if allowed else 403)


@login_required
@require_GET
def workspace_open(request: HttpRequest, slug: str) -> HttpResponse:
    """Open one of your workspaces, signed in there already."""
    user: Any = request.user
    membership = Membership.objects.filter(user=user, tenant__slug=slug).select_related("tenant").first()
    if membership is None or membership.tenant.is_public:
        raise Http404
    return _open_workspace(request, membership.tenant)


@login_required
@require_POST
def invitation_accept(request: HttpRequest, invitation_id: int) -> HttpResponse:
    """Accept a pending invitation sent to one of your verified addresses, and open the workspace."""
    try:
        membership = invitation_accept_for_user(
            user=request.user,  # type: ignore[arg-type]
            invitation_id=invitation_id,
            request=request,
        )
    except ApiError as exc:
        messages.error(request, exc.message)
        return redirect("public_home")
    messages.success(request, f"You joined {membership.tenant.name} as {membership.role}.")
    return redirect("public_home")


HANDOFF_PENDING = "portal_handoff_pending"  # session key: the person a ticket named, awaiting confirmation
HANDOFF_CONFIRM_SECONDS = 300


@require_http_methods(["GET", "POST"])
def handoff(request: HttpRequest, ticket: str) -> HttpResponse:
    """On a workspace host: redeem a ticket from the platform host and sign its person in here.

    A visitor already signed in here as someone else is not switched silently (a link opened from another site
    could sign them in as its maker): they see who is signed in and who the link names, and switch only by
    confirming (POST with the CSRF token); the ticket is used up when shown."""
    if request.method == "POST":
        return _handoff_confirm(request)
    user = handoff_ticket_redeem(ticket=ticket, host=request.get_host().split(":")[0])
    if user is None:
        messages.info(request, "That sign-in link has expired or was used; sign in here.")
        return redirect("account_login")
    if request.user.is_authenticated and request.user.pk != user.pk:
        request.session[HANDOFF_PENDING] = {"user": user.pk, "at": time.time()}
        return render(request, "portal/handoff_confirm.html", {"current": request.user, "named": user})
    if not request.user.is_authenticated:
        login(request, user, backend=BACKEND)
    return redirect("home")


def _handoff_confirm(request: HttpRequest) -> HttpResponse:
    """The visitor confirmed switching to the person a ticket named (shown to them on the confirmation page)."""
    pending: Any = request.session.pop(HANDOFF_PENDING, None)
    fresh = isinstance(pending, dict) and time.time() - float(pending.get("at", 0)) <= HANDOFF_CONFIRM_SECONDS
    user = User.objects.filter(pk=pending.get("user"), is_active=True).first() if fresh else None
    if user is None:
        messages.info(request, "That sign-in link has expired or was used; sign in here.")
        return redirect("account_login")
    login(request, user, backend=BACKEND)
    return redirect("home")
