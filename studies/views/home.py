"""The workspace home: who you are here, your studies, and where to start."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from datasets.models import Study
from queries.protected_results import runs_rows_shown
from queries.selectors import run_list_for_user
from tenants.models import Membership
from tenants.roles import Role, role_at_least


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The workspace home: who you are here, what you can do, and where to start."""
    members = Membership.objects.filter(tenant=request.tenant).count()  # type: ignore[attr-defined]
    studies = list(Study.objects.order_by("name")[:10])
    runs: list[object] = []
    membership = getattr(request, "membership", None)
    if membership is not None and role_at_least(membership.role, Role.ANALYST):
        tenant = request.tenant  # type: ignore[attr-defined]
        latest = run_list_for_user(user=request.user, tenant=tenant).filter(created_by_id=request.user.pk)[:5]
        runs = list(runs_rows_shown(tenant=tenant, actor=request.user, runs=latest))
    return render(request, "tenants/home.html", {"member_count": members, "studies": studies, "runs": runs})
