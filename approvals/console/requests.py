"""The console's home and the access-requests queue: stewards decide requests."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from access.levels import level_at_least
from approvals.console.common import flash_run, parse_expiry, request_actor, steward_required
from approvals.selectors import (
    access_request_demographics_gap,
    access_request_get_for_user,
    access_request_list_for_user,
)
from approvals.services import REQUESTABLE_LEVELS, access_request_decide
from core.errors import ApiError
from tenants.page_kit import request_tenant


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
    tenant = request_tenant(request)
    for item in items:
        item.approvable_levels = [level for level in levels if level_at_least(item.level, level)]  # type: ignore[attr-defined]
        item.demographics_gap = (  # type: ignore[attr-defined]
            access_request_demographics_gap(tenant=tenant, access_request=item)
            if item.effective_status in ("pending", "approved")
            else None
        )
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
            include_demographics=request.POST.get("include_demographics") == "1",
            request=request,
        ),
        f"Request #{request_id} {'approved' if decision == 'approve' else 'denied'}.",
    )
    return redirect("console_requests")


@require_POST
@steward_required
def console_requests_decide(request: HttpRequest) -> HttpResponse:
    """Approve (as requested) or deny (with one reason) every selected pending request; each decision is its own
    audited service call, and the page says which went through."""
    tenant = request_tenant(request)
    decision = request.POST.get("decision", "")
    ids = [int(raw) for raw in request.POST.getlist("ids") if raw.isdigit()][:200]
    if not ids:
        messages.error(request, "Select at least one request.")
        return redirect("console_requests")
    done: list[int] = []
    for request_id in ids:
        try:
            found = access_request_get_for_user(user=request.user, tenant=tenant, request_id=request_id)
            access_request_decide(
                tenant=tenant,
                actor=request_actor(request),
                access_request=found,
                decision=decision,
                reason=request.POST.get("reason", ""),
                include_demographics=request.POST.get("include_demographics") == "1",
                request=request,
            )
        except ApiError as exc:
            messages.error(request, f"Request #{request_id}: {exc.message}")
        else:
            done.append(request_id)
    if done:
        verb = "approved" if decision == "approve" else "denied"
        listed = ", ".join(f"#{pk}" for pk in done)
        messages.success(request, f"{len(done)} request{'s' if len(done) != 1 else ''} {verb}: {listed}.")
    return redirect("console_requests")


# --- Members -------------------------------------------------------------------------------------------------
