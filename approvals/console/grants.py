"""Steward console pages, part two (mounted at /console/): grants, teams, explain, terms of use.

Same rules as ``approvals.console`` (requests and members): steward or owner for every page; the views parse forms
and call the services of ``access`` and ``approvals``, which authorize again and audit.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.levels import Level
from access.models import Team
from access.selectors import access_explain, grant_get, grants_for_dataset, grants_for_user, team_get, team_list
from access.services import grant_create, grant_revoke, team_create, team_member_add, team_member_remove
from approvals.console.common import (
    flash_run,
    member_or_none,
    member_user,
    parse_expiry,
    redirect_back,
    request_actor,
    steward_required,
)
from approvals.selectors import dua_list_for_study
from approvals.services import dua_create
from core.errors import NotFound
from datasets.models import Dataset, Study
from tenants.models import User
from tenants.page_kit import request_tenant

# --- Grants --------------------------------------------------------------------------------------------------


@require_GET
@steward_required
def console_grants(request: HttpRequest) -> HttpResponse:
    """Grants per dataset (pick a study and dataset) or per person (an e-mail), with the grant form."""
    tenant = request_tenant(request)
    studies = list(Study.objects.order_by("name"))
    study = next((s for s in studies if s.slug == request.GET.get("study")), studies[0] if studies else None)
    datasets = list(Dataset.objects.filter(study=study).order_by("kind", "name")) if study else []
    dataset = next((d for d in datasets if d.name == request.GET.get("dataset")), datasets[0] if datasets else None)
    email = request.GET.get("email", "").strip().lower()
    person = member_or_none(tenant, email)
    grants = list(grants_for_dataset(dataset=dataset)[:300]) if dataset and not email else []
    person_grants = list(grants_for_user(user=person, tenant=tenant)[:300]) if person else []
    context = {
        "tab": "grants",
        "studies": studies,
        "study": study,
        "datasets": datasets,
        "dataset": dataset,
        "grants": grants,
        "email": email,
        "person": person,
        "person_grants": person_grants,
        "levels": [level.value for level in Level],
        "teams": list(team_list()),
        "now": timezone.now(),
    }
    return render(request, "console/grants.html", context)


@require_POST
@steward_required
def console_grant_create(request: HttpRequest) -> HttpResponse:
    """Grant a level on a dataset (or every dataset of the study) to a member or a team."""
    tenant = request_tenant(request)
    post = request.POST

    def create() -> None:
        study = Study.objects.filter(slug=post.get("study", "")).first()
        if study is None:
            raise NotFound("No such study.")
        dataset_name = post.get("dataset", "")
        dataset = Dataset.objects.filter(study=study, name=dataset_name).first() if dataset_name else None
        if dataset_name and dataset is None:
            raise NotFound("No such dataset.")
        team_slug = post.get("team", "").strip()
        email = post.get("email", "").strip()
        grant_create(
            tenant=tenant,
            actor=request_actor(request),
            study=study,
            dataset=dataset,
            user=member_user(tenant, email) if email else None,
            team=team_get(slug=team_slug) if team_slug else None,
            level=post.get("level", ""),
            identifying=post.get("identifying") == "on",
            expires_at=parse_expiry(post.get("expires_at", "")),
            reason=post.get("reason", ""),
            request=request,
        )

    flash_run(request, create, "Access granted.")
    return redirect_back(request, "/console/grants/")


@require_POST
@steward_required
def console_grant_revoke(request: HttpRequest, grant_id: int) -> HttpResponse:
    """Revoke one grant now."""

    def revoke() -> None:
        grant_revoke(
            tenant=request_tenant(request),
            actor=request_actor(request),
            grant=grant_get(grant_id=grant_id),
            request=request,
        )

    flash_run(request, revoke, "The grant was revoked.")
    return redirect_back(request, "/console/grants/")


# --- Teams ---------------------------------------------------------------------------------------------------


@require_GET
@steward_required
def console_teams(request: HttpRequest) -> HttpResponse:
    """Teams and their members; create a team, add or remove members."""
    teams: list[Team] = list(team_list().prefetch_related("members"))
    ids = {m.user_id for team in teams for m in team.members.all()}  # type: ignore[attr-defined]
    emails = dict(User.objects.filter(pk__in=ids).values_list("pk", "email"))
    rows = [
        {"team": team, "members": sorted(emails.get(m.user_id, "?") for m in team.members.all())}  # type: ignore[attr-defined]
        for team in teams
    ]
    return render(request, "console/teams.html", {"tab": "teams", "rows": rows})


@require_POST
@steward_required
def console_team_create(request: HttpRequest) -> HttpResponse:
    """Create a team."""
    name = request.POST.get("name", "")
    flash_run(
        request,
        lambda: team_create(
            tenant=request_tenant(request),
            actor=request_actor(request),
            name=name,
            description=request.POST.get("description", ""),
            request=request,
        ),
        f"Team {name.strip()} created.",
    )
    return redirect("console_teams")


@require_POST
@steward_required
def console_team_member(request: HttpRequest, slug: str) -> HttpResponse:
    """Add (``action=add``) or remove (``action=remove``) a member of a team."""
    tenant = request_tenant(request)
    email = request.POST.get("email", "")
    adding = request.POST.get("action") == "add"

    def change() -> None:
        team = team_get(slug=slug)
        user = member_user(tenant, email)
        if adding:
            team_member_add(tenant=tenant, actor=request_actor(request), team=team, user=user, request=request)
        else:
            team_member_remove(tenant=tenant, actor=request_actor(request), team=team, user=user, request=request)

    flash_run(request, change, f"{email.strip()} {'added to' if adding else 'removed from'} the team.")
    return redirect("console_teams")


# --- Explain and terms ---------------------------------------------------------------------------------------


@require_GET
@steward_required
def console_explain(request: HttpRequest) -> HttpResponse:
    """Why can this person see this dataset at this level: role default, study default, grants, expiry."""
    tenant = request_tenant(request)
    studies = list(Study.objects.order_by("name").prefetch_related("datasets"))
    email = request.GET.get("email", "").strip().lower()
    study_slug, dataset_name = request.GET.get("study", ""), request.GET.get("dataset", "")
    if "/" in request.GET.get("dataset_ref", ""):
        study_slug, dataset_name = request.GET["dataset_ref"].split("/", 1)
    context: dict[str, Any] = {
        "tab": "explain",
        "studies": studies,
        "email": email,
        "study_slug": study_slug,
        "dataset_name": dataset_name,
    }
    if email and study_slug and dataset_name:
        dataset = Dataset.objects.select_related("study").filter(study__slug=study_slug, name=dataset_name).first()
        person = member_or_none(tenant, email)
        if dataset is None or person is None:
            context["error"] = "No such member, study or dataset."
        else:
            context["explanation"] = access_explain(user=person, tenant=tenant, study=dataset.study, dataset=dataset)
            context["person"] = person
            context["dataset"] = dataset
    return render(request, "console/explain.html", context)


@require_http_methods(["GET", "POST"])
@steward_required
def console_terms(request: HttpRequest) -> HttpResponse:
    """Edit a study's terms of use: saving publishes a new version that later requests must accept."""
    studies = list(Study.objects.order_by("name"))
    slug = request.POST.get("study") or request.GET.get("study", "")
    study = next((s for s in studies if s.slug == slug), studies[0] if studies else None)
    if request.method == "POST" and study is not None:
        ok = flash_run(
            request,
            lambda: dua_create(
                tenant=request_tenant(request),
                actor=request_actor(request),
                study=study,
                text=request.POST.get("text", ""),
                request=request,
            ),
            f"New terms of use published for {study.name}.",
        )
        if ok:
            return redirect(f"/console/terms/?study={study.slug}")
    versions = list(dua_list_for_study(study=study)) if study else []
    return render(
        request,
        "console/terms.html",
        {"tab": "terms", "studies": studies, "study": study, "versions": versions},
    )
