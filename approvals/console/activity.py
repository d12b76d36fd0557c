"""Steward console: count activity (mounted at /console/activity/) — aggregate-only members' counting per study.

Per study: every member answered at the count level, their budget used (distinct questions in the window), whether
they are locked out, their latest specs (from the audit trail), and a reset button (``access.budget``; audited).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from access.activity import budget_settings, count_activity_for_study
from access.budget import count_budget_reset
from approvals.console.common import flash_run, member_user, redirect_back, request_actor, steward_required
from core.errors import NotFound
from datasets.models import Study
from tenants.page_kit import request_tenant


@require_GET
@steward_required
def console_activity(request: HttpRequest) -> HttpResponse:
    """Count activity of one study (``?study=``; the first study by default)."""
    tenant = request_tenant(request)
    studies = list(Study.objects.order_by("name"))
    study = next((s for s in studies if s.slug == request.GET.get("study")), studies[0] if studies else None)
    items = count_activity_for_study(actor=request_actor(request), tenant=tenant, study=study) if study else []
    context = {
        "tab": "activity",
        "studies": studies,
        "study": study,
        "items": items,
        "budget": budget_settings(tenant),
    }
    return render(request, "console/activity.html", context)


@require_POST
@steward_required
def console_activity_reset(request: HttpRequest) -> HttpResponse:
    """Reset one member's count budget on a study (then back to the activity page)."""
    tenant = request_tenant(request)
    study = Study.objects.filter(slug=request.POST.get("study", "")).first()
    if study is None:
        raise NotFound("No such study.")
    email = request.POST.get("email", "").strip().lower()
    fallback = f"{reverse('console_activity')}?study={study.slug}"

    def reset() -> None:
        count_budget_reset(
            tenant=tenant,
            actor=request_actor(request),
            study=study,
            user=member_user(tenant, email),
            reason=request.POST.get("reason", ""),
            request=request,
        )

    flash_run(request, reset, f"Reset the count budget of {email} on {study.name}.")
    return redirect_back(request, fallback)
