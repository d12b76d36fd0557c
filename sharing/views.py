"""Sharing pages: ``/sharing/`` for every member (a consortium's contributing labs, studies, terms and pending
offers; a lab's contributions) and the steward console's **Sharing** tab (offer, accept, decline, ceiling,
withdraw, requests beyond the ceiling, the usage report). Views parse forms and call ``sharing.services``, which
authorize again and audit."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from approvals.console.common import parse_expiry
from core.errors import ApiError, Forbidden, NotFound
from datasets.models import Study
from sharing.models import CeilingRaise, ContributionStatus
from sharing.raise_revocation import raise_revoke
from sharing.selectors import contribution_get_for_user, contributions_of, usage_events
from sharing.services import (
    contribution_accept,
    contribution_decline,
    contribution_level_set,
    contribution_offer,
    contribution_withdraw,
    raise_decide,
)
from sharing.usage import usage_item
from tenants.models import Tenant, User, WorkspaceKind
from tenants.page_kit import can_manage, page_errors, request_tenant, role_required
from tenants.roles import Role

member_required = role_required(Role.VIEWER, "Sharing is shown to the members of this workspace.")
steward_required = role_required(Role.STEWARD, "The console is for stewards and owners.")
USAGE_PAGE = 200


def _context(request: HttpRequest) -> dict[str, Any]:
    tenant = request_tenant(request)
    contributions = list(contributions_of(tenant))
    by_status = {status: [c for c in contributions if c.status == status] for status in ContributionStatus.values}
    return {
        "tenant_kind": tenant.kind,
        "is_consortium": tenant.kind == WorkspaceKind.CONSORTIUM,
        "contributions": contributions,
        "active": by_status[ContributionStatus.ACTIVE],
        "offered": by_status[ContributionStatus.OFFERED],
        "closed": by_status[ContributionStatus.WITHDRAWN] + by_status[ContributionStatus.DECLINED],
        "can_manage": can_manage(request),
    }


@require_GET
@member_required
def sharing_home(request: HttpRequest) -> HttpResponse:
    """A consortium's contributing labs and their studies, datasets and terms (and pending offers); a lab's
    contributions and their status."""
    return render(request, "sharing/home.html", _context(request))


@require_GET
@steward_required
def console_sharing(request: HttpRequest) -> HttpResponse:
    """The console tab: the offer form (labs), decisions on offers (consortia), ceilings, withdrawal, requests."""
    tenant = request_tenant(request)
    context = _context(request)
    context["tab"] = "sharing"
    if tenant.kind == WorkspaceKind.LAB:
        context["studies"] = list(Study.objects.order_by("name"))
        context["consortia"] = list(Tenant.objects.filter(kind=WorkspaceKind.CONSORTIUM).order_by("name"))
        context["pending_requests"] = list(
            CeilingRaise.objects.filter(contribution__lab=tenant, status="pending").select_related(
                "user", "contribution", "contribution__consortium"
            )
        )
        approved = CeilingRaise.objects.filter(contribution__lab=tenant, status="approved").select_related(
            "user", "contribution", "contribution__consortium"
        )
        context["approved_requests"] = [r for r in approved if r.effective_status == "approved"]  # not expired
    return render(request, "sharing/console.html", context)


def _flash(request: HttpRequest, action: Any, success: str) -> None:
    try:
        action()
    except ApiError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)


@require_POST
@steward_required
def console_offer(request: HttpRequest) -> HttpResponse:
    tenant = request_tenant(request)
    actor = cast(User, request.user)
    names = [n.strip() for n in request.POST.get("datasets", "").split(",") if n.strip()]

    def offer() -> None:
        study = Study.objects.filter(slug=request.POST.get("study", "")).first()
        if study is None:
            raise NotFound("No such study.")
        contribution_offer(
            tenant=tenant,
            actor=actor,
            study=study,
            consortium=request.POST.get("consortium", ""),
            level=request.POST.get("level", ""),
            datasets=names or None,
            follow=request.POST.get("follow", "latest"),
            terms=request.POST.get("terms", ""),
            request=request,
        )

    _flash(request, offer, "Offered. The consortium's stewards can accept it now.")
    return redirect("console_sharing")


@require_POST
@steward_required
@page_errors
def console_contribution_action(request: HttpRequest, contribution_id: int, action: str) -> HttpResponse:
    """One decision on a contribution: accept (with a slug), decline, a new ceiling, withdraw."""
    tenant = request_tenant(request)
    actor = cast(User, request.user)
    found = contribution_get_for_user(user=actor, tenant=tenant, contribution_id=contribution_id)
    calls = {
        "accept": lambda: contribution_accept(
            tenant=tenant, actor=actor, contribution=found, slug=request.POST.get("slug", "").strip(), request=request
        ),
        "decline": lambda: contribution_decline(tenant=tenant, actor=actor, contribution=found, request=request),
        "level": lambda: contribution_level_set(
            tenant=tenant, actor=actor, contribution=found, level=request.POST.get("level", ""), request=request
        ),
        "withdraw": lambda: contribution_withdraw(tenant=tenant, actor=actor, contribution=found, request=request),
    }
    words = {
        "accept": "Accepted: the study is in the catalog.",
        "decline": "Declined.",
        "level": "Ceiling changed: it applies from the next request.",
        "withdraw": "Withdrawn: the consortium can no longer use this study.",
    }
    _flash(request, calls[action], words[action])
    return redirect("console_sharing")


@require_POST
@steward_required
@page_errors
def console_request_decide(request: HttpRequest, contribution_id: int, request_id: int) -> HttpResponse:
    """The lab's decision on a request beyond the ceiling (approve or deny), or the end of an approval it gave."""
    tenant = request_tenant(request)
    actor = cast(User, request.user)
    found = contribution_get_for_user(user=actor, tenant=tenant, contribution_id=contribution_id)
    if request.POST.get("decision") == "revoke":
        _flash(
            request,
            lambda: raise_revoke(tenant=tenant, actor=actor, contribution=found, raise_id=request_id, request=request),
            "Approval ended: that person is back at the ceiling.",
        )
        return redirect("console_sharing")
    approve = request.POST.get("decision") == "approve"
    _flash(
        request,
        lambda: raise_decide(
            tenant=tenant,
            actor=actor,
            contribution=found,
            raise_id=request_id,
            approve=approve,
            expires_at=parse_expiry(request.POST.get("expires_at", "")) if approve else None,
            request=request,
        ),
        "Approved for that person." if approve else "Denied.",
    )
    return redirect("console_sharing")


@require_GET
@steward_required
@page_errors
def console_usage(request: HttpRequest, contribution_id: int) -> HttpResponse:
    """The usage report of one contribution (the contributing lab): who used the data, how, for what, when."""
    tenant = request_tenant(request)
    found = contribution_get_for_user(user=request.user, tenant=tenant, contribution_id=contribution_id)
    if found.lab_id != tenant.pk:
        raise Forbidden("The usage report is the contributing lab's.", code="contributor_only")
    events = list(usage_events(contribution=found)[:USAGE_PAGE])
    items = [usage_item(event) for event in events]
    context = {
        "tab": "sharing",
        "contribution": found,
        "items": items,
        "total": usage_events(contribution=found).count(),
        "by_action": sorted(Counter(i["action"] for i in items).items()),
        "by_user": sorted(Counter(i["user"] for i in items).items()),
    }
    return render(request, "sharing/usage.html", context)
