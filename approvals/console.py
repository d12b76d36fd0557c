"""Steward console pages (mounted at /console/): the requests queue and members (grants, teams, explain and terms
of use: ``approvals.console_access``).

Every page needs the steward or owner role; the views only parse forms and call the services of ``tenants``,
``access`` and ``approvals`` (which authorize again and audit).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_GET, require_POST

from access.levels import level_at_least
from approvals.selectors import access_request_get_for_user, access_request_list_for_user
from approvals.services import REQUESTABLE_LEVELS, access_request_decide
from core.errors import ApiError, InvalidInput, NotFound
from tenants.members import invitation_revoke, member_invite, member_remove, member_role_change
from tenants.models import User
from tenants.page_kit import request_tenant, role_required
from tenants.roles import Role
from tenants.selectors import invitation_list_for_user, member_list_for_user, membership_get_by_email

View = Callable[..., HttpResponse]


#: Console pages are for stewards and owners; everyone else gets the 403 page.
steward_required = role_required(Role.STEWARD, "The console is for stewards and owners.")


def parse_expiry(raw: str) -> datetime | None:
    """A form's expiry (``YYYY-MM-DDTHH:MM`` or a date = end of that day), in the site's time zone; blank = none."""
    raw = (raw or "").strip()
    if not raw:
        return None
    moment = parse_datetime(raw)
    if moment is None:
        day = parse_date(raw)
        if day is None:
            raise InvalidInput("The expiry is not a valid date or time.", code="invalid_expiry")
        moment = datetime(day.year, day.month, day.day, 23, 59, 59)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def flash_run(request: HttpRequest, action: Callable[[], Any], success: str) -> bool:
    """Run a service call; report its error or ``success`` as a flash message."""
    try:
        action()
    except ApiError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, success)
    return True


def redirect_back(request: HttpRequest, fallback: str) -> HttpResponse:
    """Back to the posted ``next`` console page (only /console/ paths: no open redirect), else ``fallback``."""
    target = request.POST.get("next", "")
    return redirect(target if target.startswith("/console/") else fallback)


def request_actor(request: HttpRequest) -> User:
    """The signed-in member making the request."""
    return cast(User, request.user)  # console views run for signed-in members only (steward_required)


def member_user(tenant: Any, email: str) -> User:
    """The member of ``tenant`` with ``email``, or 404 (unknown addresses and non-members alike)."""
    found = membership_get_by_email(tenant=tenant, email=email)
    if found is None:
        raise NotFound("No such member.")
    return found.user


# --- Overview and requests -------------------------------------------------------------------------------------


@require_GET
@steward_required
def console_home(request: HttpRequest) -> HttpResponse:
    """The console's start page: the queue of pending requests."""
    return redirect("console_requests")


@require_GET
@steward_required
def console_requests(request: HttpRequest) -> HttpResponse:
    """Access requests, pending first; approve (possibly lower / shorter) or deny with a reason."""
    status = request.GET.get("status", "pending")
    try:
        items = list(
            access_request_list_for_user(user=request.user, tenant=request_tenant(request), status=status or None)[:200]
        )
    except ApiError as exc:
        messages.error(request, exc.message)
        items = []
    levels = [level.value for level in REQUESTABLE_LEVELS]
    for item in items:
        item.approvable_levels = [level for level in levels if level_at_least(item.level, level)]  # type: ignore[attr-defined]
    return render(
        request,
        "console/requests.html",
        {"tab": "requests", "items": items, "status": status, "levels": levels, "statuses": _STATUSES},
    )


_STATUSES = ["pending", "approved", "denied", "withdrawn", "expired", "revoked", ""]


@require_POST
@steward_required
def console_request_decide(request: HttpRequest, request_id: int) -> HttpResponse:
    """Approve or deny one request from the queue."""
    tenant = request_tenant(request)
    try:
        found = access_request_get_for_user(user=request.user, tenant=tenant, request_id=request_id)
        expires_at = parse_expiry(request.POST.get("expires_at", ""))
    except ApiError as exc:
        messages.error(request, exc.message)
        return redirect("console_requests")
    decision = request.POST.get("decision", "")
    flash_run(
        request,
        lambda: access_request_decide(
            tenant=tenant,
            actor=request_actor(request),
            access_request=found,
            decision=decision,
            level=request.POST.get("level") or None,
            expires_at=expires_at,
            reason=request.POST.get("reason", ""),
            request=request,
        ),
        f"Request #{request_id} {'approved' if decision == 'approve' else 'denied'}.",
    )
    return redirect("console_requests")


# --- Members -------------------------------------------------------------------------------------------------


@require_GET
@steward_required
def console_members(request: HttpRequest) -> HttpResponse:
    """Members and roles, pending invitations, and the invite form."""
    tenant = request_tenant(request)
    members = list(member_list_for_user(user=request_actor(request), tenant=tenant))
    invitations = invitation_list_for_user(user=request_actor(request), tenant=tenant)
    is_owner = request.membership.role == Role.OWNER  # type: ignore[attr-defined]
    roles = [(value, label) for value, label in Role.choices if is_owner or value != Role.OWNER]
    return render(
        request,
        "console/members.html",
        {"tab": "members", "members": members, "invitations": invitations, "roles": roles, "is_owner": is_owner},
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
