"""Study pages: the list, creation (wizard step 1) with its slug suggestion, the study's catalog and its history."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from access.catalog import catalog_view_for_user, ingests_shown, study_participants_shown
from access.selectors import datasets_levels_for_user
from core.errors import ApiError, Forbidden
from datasets.models import Study
from datasets.selectors import dataset_list_for_study, ingest_list_for_study, study_list_for_user
from datasets.services import study_update
from datasets.study_keys import study_key_problems
from studies.catalog_reads import study_list_annotate
from studies.forms import KeyRepairForm, study_slug_suggest
from studies.history import history_rows_fill, study_history
from studies.views.common import _require_steward, _study, page_errors
from studies.views.staging import _staged_get
from studies.wizard_state import STEP_DEMOGRAPHICS, STEP_IMPORTING, STEP_KEYS, study_setup_state
from tenants.page_kit import can_manage, request_tenant

HISTORY_PAGE_SIZE = 50


@require_GET
@page_errors
def study_list(request: HttpRequest) -> HttpResponse:
    """Every study of the workspace, with its size and freshness."""
    studies = list(study_list_annotate(study_list_for_user(user=request.user, tenant=request_tenant(request))))
    for study in studies:
        shown = study_participants_shown(user=request.user, tenant=request_tenant(request), study=study)
        study.participant_count = shown  # type: ignore[attr-defined]
    return render(request, "datasets/study_list.html", {"studies": studies, "can_manage": can_manage(request)})


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
    levels = datasets_levels_for_user(user=request.user, tenant=request_tenant(request), study=study)
    view = catalog_view_for_user(user=request.user, tenant=request_tenant(request), study=study)
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
    context = {
        "study": study,
        "state": state,
        "datasets": datasets,
        "demographics": demographics,
        "ingests": ingests_shown(view, ingest_list_for_study(study=study, limit=10)),
        "can_manage": can_manage(request),
        "key_problems": study_key_problems(study),
    }
    if context["can_manage"] and demographics is not None:
        context["repair_form"] = _repair_form(study, demographics["latest"].column_names())
    return render(request, "datasets/study_detail.html", context)


def _current_keys(study: Study) -> dict[str, str]:
    return {role: getattr(study, role) for role in KeyRepairForm.ROLES}


def _repair_form(study: Study, header: list[str], data: Any = None) -> KeyRepairForm:
    return KeyRepairForm(data, header=header, current=_current_keys(study))


@require_POST
@page_errors
def study_keys_repair(request: HttpRequest, slug: str) -> HttpResponse:
    """Re-point or drop the study's optional key columns (stewards; audited); the repair of a study whose key
    columns do not fit its data."""
    study = _study(request, slug)
    _require_steward(request, "change studies")
    version = study.demographics.latest_version() if study.demographics_id else None  # type: ignore[union-attr]
    if version is None:
        return redirect("study_setup", slug=study.slug)
    form = _repair_form(study, version.column_names(), request.POST)
    if form.is_valid():
        changes = form.changes(_current_keys(study))
        try:
            if changes:
                study_update(
                    tenant=request_tenant(request), actor=request.user, study=study, request=request, **changes
                )
        except Forbidden:
            raise
        except ApiError as exc:
            messages.error(request, exc.message)
        else:
            done = ", ".join(f"{role.replace('_', ' ')} -> {value or 'none'}" for role, value in changes.items())
            messages.success(request, f"Key columns changed: {done}." if changes else "Nothing to change.")
    return redirect("study_detail", slug=study.slug)


@require_GET
@page_errors
def study_history_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Who changed what in the study and its datasets, field by field (version row counts as the caller's catalog
    shows them)."""
    study = _study(request, slug)
    page = Paginator(study_history(study), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    history_rows_fill(
        page.object_list, catalog_view_for_user(user=request.user, tenant=request_tenant(request), study=study)
    )
    return render(request, "datasets/study_history.html", {"study": study, "page": page})
