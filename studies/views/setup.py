"""The study setup wizard: demographics upload and preview, key columns, and discarding the staged file."""

from __future__ import annotations

from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from access.catalog import catalog_view_for_user, ingests_shown
from core.config import config_get
from core.errors import ApiError, Forbidden
from datasets.ingest import delimiter_from_name, delimiter_name
from datasets.models import DatasetKind, Study
from datasets.services import ingest_job_create, study_update
from datasets.storage import setup_upload_name, storage_save
from studies.forms import DemographicsUploadForm, KeyColumnsForm
from studies.preview import PreviewError, csv_preview
from studies.views.common import _require_steward, _study, page_errors
from studies.views.keys_prefill import key_prefill
from studies.views.staging import _staged_discard, _staged_get, _staged_key, _staged_preview
from studies.views.uploads import _too_large_message, _upload_too_large, _uploader_context
from studies.wizard_state import STEP_DEMOGRAPHICS, STEP_DONE, STEP_KEYS, STEP_MEASURES, SetupState, study_setup_state
from tenants.page_kit import can_manage, request_tenant


def _state(request: HttpRequest, study: Study, *, staged: bool) -> SetupState:
    """The wizard's state, its demographics ingest annotated with what the caller may read of it."""
    state = study_setup_state(study, staged=staged)
    if state.demographics_job is not None:
        view = catalog_view_for_user(user=request.user, tenant=request_tenant(request), study=study)
        ingests_shown(view, [state.demographics_job])
    return state


def _setup_context(request: HttpRequest, study: Study, **extra: Any) -> dict[str, Any]:
    staged = _staged_get(request, study)
    state = _state(request, study, staged=staged is not None)
    context: dict[str, Any] = {
        "study": study,
        "state": state,
        "steps": state.steps(),
        "staged": staged,
        "can_manage": can_manage(request),
        "upload_limit": config_get("upload_max_bytes", request_tenant(request)),
        "urls": {
            "demographics": reverse("study_setup_demographics", kwargs={"slug": study.slug}),
            "keys": reverse("study_setup_keys", kwargs={"slug": study.slug}),
            "discard": reverse("study_setup_discard", kwargs={"slug": study.slug}),
        },
    }
    if state.step == STEP_DEMOGRAPHICS:
        context.setdefault("upload_form", DemographicsUploadForm())
    elif state.step == STEP_KEYS and staged is not None:
        try:
            preview = _staged_preview(staged)
        except PreviewError as exc:
            _staged_discard(request, study)
            context["upload_form"] = DemographicsUploadForm()
            context["upload_error"] = exc.message
            context["state"] = _state(request, study, staged=False)
            context["steps"] = context["state"].steps()
        else:
            prefill = key_prefill(preview.header, staged["filename"], study=study)
            context["preview"] = preview
            context["keys_form"] = KeyColumnsForm(header=preview.header, initial=prefill.initial)
    elif state.step == STEP_MEASURES:
        context.update(_uploader_context(study))
    context.update(extra)
    return context


@require_GET
@page_errors
def study_setup(request: HttpRequest, slug: str) -> HttpResponse:
    """The setup wizard at the study's current step (a finished study goes to its catalog)."""
    study = _study(request, slug)
    context = _setup_context(request, study)
    if context["state"].step == STEP_DONE and request.GET.get("step") != "measures":
        return redirect("study_detail", slug=study.slug)
    if context["state"].step == STEP_DONE:
        context.update(_uploader_context(study))
    return render(request, "datasets/study_setup.html", context)


@require_POST
@page_errors
def study_setup_demographics(request: HttpRequest, slug: str) -> HttpResponse:
    """Wizard step 2: receive the demographics file, stage it and show its preview for the key columns."""
    study = _study(request, slug)
    _require_steward(request, "upload data")
    if _upload_too_large(request):
        context = _setup_context(request, study, upload_error=_too_large_message(request))
        return render(request, "datasets/study_setup.html", context, status=413)
    state = study_setup_state(study)
    if state.step not in {STEP_DEMOGRAPHICS, STEP_KEYS}:
        return redirect("study_setup", slug=study.slug)
    form = DemographicsUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        _staged_discard(request, study)
        return render(
            request, "datasets/study_setup.html", _setup_context(request, study, upload_form=form), status=422
        )
    upload = form.cleaned_data["file"]
    try:
        csv_preview(
            upload,
            encoding=form.cleaned_data["encoding"] or None,
            delimiter=delimiter_from_name(form.cleaned_data["delimiter"]),
        )
    except PreviewError as exc:
        _staged_discard(request, study)
        form.add_error("file", exc.message)
        return render(
            request, "datasets/study_setup.html", _setup_context(request, study, upload_form=form), status=422
        )
    upload.seek(0)
    _staged_discard(request, study)
    name = storage_save(setup_upload_name(study.pk), upload)
    request.session[_staged_key(request, study)] = {
        "name": name,
        "filename": (upload.name or "demographics.csv")[:255],
        "encoding": form.cleaned_data["encoding"],
        "delimiter": form.cleaned_data["delimiter"],
        "size": upload.size,
    }
    return redirect("study_setup", slug=study.slug)


@require_POST
@page_errors
def study_setup_keys(request: HttpRequest, slug: str) -> HttpResponse:
    """Wizard step 3: confirm the key columns, then queue the staged demographics file's ingest."""
    study = _study(request, slug)
    _require_steward(request, "change studies")
    staged = _staged_get(request, study)
    if staged is None:
        return redirect("study_setup", slug=study.slug)
    if study_setup_state(study, staged=True).step != STEP_KEYS:  # the demographics arrived meanwhile (other tab)
        _staged_discard(request, study)
        return redirect("study_setup", slug=study.slug)
    try:
        preview = _staged_preview(staged)
    except PreviewError:
        _staged_discard(request, study)
        return redirect("study_setup", slug=study.slug)
    form = KeyColumnsForm(request.POST, header=preview.header)
    if form.is_valid():
        data = form.cleaned_data
        keys = {key: data.get(key) or "" for key in KeyColumnsForm.KEY_FIELDS}
        try:
            with transaction.atomic():
                study_update(tenant=request_tenant(request), actor=request.user, study=study, request=request, **keys)
                with default_storage.open(staged["name"], "rb") as handle:
                    ingest_job_create(
                        tenant=request_tenant(request),
                        actor=request.user,
                        study=study,
                        upload=File(handle, name=staged["filename"]),  # type: ignore[arg-type]
                        dataset_name=data["dataset_name"],
                        kind=DatasetKind.DEMOGRAPHICS,
                        encoding=staged.get("encoding") or "",
                        # The separator of the preview the keys were chosen from (detected or given).
                        delimiter=delimiter_name(preview.delimiter),
                        request=request,
                    )
        except Forbidden:
            raise
        except ApiError as exc:
            study.refresh_from_db()
            form.add_error(None, exc.message)
        else:
            _staged_discard(request, study)
            return redirect("study_setup", slug=study.slug)
    context = _setup_context(request, study)
    context["keys_form"] = form
    return render(request, "datasets/study_setup.html", context, status=422)


@require_POST
@page_errors
def study_setup_discard(request: HttpRequest, slug: str) -> HttpResponse:
    """Wizard: drop the staged demographics file and choose another one."""
    study = _study(request, slug)
    _require_steward(request, "upload data")
    _staged_discard(request, study)
    return redirect("study_setup", slug=study.slug)
