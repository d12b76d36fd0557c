"""Pages on a workspace host: the owners' Usage page (charts, quotas) and the sharing profile."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import NotFound
from datasets.import_services import ANALYST_LEVELS
from datasets.models import Study
from portal.charts import chart_of
from portal.profile import sharing_profile, sharing_profile_set
from portal.study_defaults import study_default_set, study_defaults_for_user
from portal.usage import quota_states_now, usage_now, usage_series
from tenants.models import WorkspaceKind
from tenants.page_kit import page_errors, request_tenant, role_required
from tenants.roles import Role


@require_GET
@role_required(Role.OWNER, "Only the workspace's owners see its usage and quotas.")
def usage_page(request: HttpRequest) -> HttpResponse:
    """Usage over the last 30 days as charts, what is kept now, and the quotas (warning from 80 %)."""
    tenant = request_tenant(request)
    now = usage_now(tenant)
    states = quota_states_now(tenant, now)
    context = {
        "now": now,
        "quotas": states,
        "warnings": [s for s in states if s.level != "ok"],
        "charts": [chart_of(series) for series in usage_series(tenant)],
        "profile": sharing_profile(tenant),
        "kinds": WorkspaceKind.choices,
    }
    return render(request, "portal/usage.html", context)


@require_POST
@role_required(Role.OWNER, "Only the workspace's owners change its sharing profile.")
@page_errors
def profile_change(request: HttpRequest) -> HttpResponse:
    """Switch the sharing profile (lab or consortium)."""
    tenant = request_tenant(request)
    updated = sharing_profile_set(tenant=tenant, actor=request.user, kind=request.POST.get("kind", ""), request=request)
    messages.success(request, f"The sharing profile is now {WorkspaceKind(updated.kind).label.lower()}.")
    return redirect("portal_usage")


@require_http_methods(["GET", "POST"])
@role_required(Role.STEWARD, "Only stewards and owners set study defaults.")
@page_errors
def study_defaults(request: HttpRequest) -> HttpResponse:
    """Console: every study's default level for analysts, editable."""
    tenant = request_tenant(request)
    if request.method == "POST":
        study = Study.objects.filter(slug=request.POST.get("study", "")).first()
        if study is None:
            raise NotFound("No such study.")
        study_default_set(
            tenant=tenant, actor=request.user, study=study, level=request.POST.get("level", ""), request=request
        )
        messages.success(request, f"The analysts' default for {study.name} is saved.")
        return redirect("portal_study_defaults")
    context = {
        "tab": "study_defaults",
        "rows": study_defaults_for_user(user=request.user, tenant=tenant),
        "levels": ANALYST_LEVELS,
        "profile": sharing_profile(tenant),
    }
    return render(request, "portal/study_defaults.html", context)
