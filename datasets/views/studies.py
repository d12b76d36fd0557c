"""Study pages: the list, creation (wizard step 1) with its slug suggestion, the study's catalog and its history."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from access.catalog import catalog_view_for_user, ingests_shown, study_participants_shown
from access.selectors import datasets_levels_for_user
from bdt_project.errors import ApiError, Forbidden
from datasets.forms import StudyCreateForm, study_slug_suggest
from datasets.page_selectors import (
    STEP_DEMOGRAPHICS,
    STEP_IMPORTING,
    STEP_KEYS,
    SetupState,
    study_history,
    study_list_annotate,
    study_setup_state,
)
from datasets.selectors import dataset_list_for_study, ingest_list_for_study, study_list_for_user
from datasets.services import study_create
from datasets.views.common import _can_manage, _require_steward, _study, _tenant, page_errors
from datasets.views.staging import _staged_get

HISTORY_PAGE_SIZE = 50


@require_GET
@page_errors
def study_list(request: HttpRequest) -> HttpResponse:
    """Every study of the workspace, with its size and freshness."""
    studies = list(study_list_annotate(study_list_for_user(user=request.user, tenant=_tenant(request))))
    for study in studies:
        shown = study_participants_shown(user=request.user, tenant=_tenant(request), study=study)
        study.participant_count = shown  # type: ignore[attr-defined]
    return render(request, "datasets/study_list.html", {"studies": studies, "can_manage": _can_manage(request)})


@require_http_methods(["GET", "POST"])
@page_errors
def study_new(request: HttpRequest) -> HttpResponse:
    """Wizard step 1: create the study."""
    _require_steward(request, "create studies")
    form = StudyCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                study = study_create(
                    tenant=_tenant(request),
                    actor=request.user,
                    slug=data["slug"],
                    name=data["name"],
                    description=data["description"].strip(),
                    engine=data["engine"],
                    request=request,
                )
            except Forbidden:
                raise
            except ApiError as exc:
                form.add_error("slug" if exc.code in {"study_exists", "invalid_slug"} else None, exc.message)
            else:
                return redirect("study_setup", slug=study.slug)
        status = 422
    return render(
        request,
        "datasets/study_new.html",
        {"form": form, "steps": _create_steps()},
        status=status,
    )


def _create_steps() -> list[dict[str, Any]]:
    return SetupState(step="create").steps()


@require_GET
def study_slug_suggestion(request: HttpRequest) -> HttpResponse:
    """The slug suggested for a study name (plain text, for the wizard's slug field)."""
    return HttpResponse(study_slug_suggest(request.GET.get("name", "")[:200]), content_type="text/plain")


@require_GET
@page_errors
def study_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The study's catalog: key columns, demographics, datasets, recent ingests."""
    study = _study(request, slug)
    state = study_setup_state(study, staged=_staged_get(request, study) is not None)
    if state.step in {STEP_DEMOGRAPHICS, STEP_KEYS, STEP_IMPORTING}:
        return redirect("study_setup", slug=study.slug)
    levels = datasets_levels_for_user(user=request.user, tenant=_tenant(request), study=study)
    view = catalog_view_for_user(user=request.user, tenant=_tenant(request), study=study)
    datasets: list[dict[str, Any]] = []
    for dataset in dataset_list_for_study(study=study):
        versions = list(dataset.versions.all())
        if versions:
            datasets.append(
                {
                    "dataset": dataset,
                    "latest": view.annotate(dataset.name, versions[0]),
                    "version_count": len(versions),
                    "level": levels.get(dataset.name),
                }
            )
    demographics = next((item for item in datasets if item["dataset"].pk == study.demographics_id), None)
    return render(
        request,
        "datasets/study_detail.html",
        {
            "study": study,
            "state": state,
            "datasets": datasets,
            "demographics": demographics,
            "ingests": ingests_shown(view, ingest_list_for_study(study=study, limit=10)),
            "can_manage": _can_manage(request),
        },
    )


@require_GET
@page_errors
def study_history_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Who changed what in the study and its datasets, field by field."""
    study = _study(request, slug)
    entries = study_history(study)
    page = Paginator(entries, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "datasets/study_history.html", {"study": study, "page": page})
