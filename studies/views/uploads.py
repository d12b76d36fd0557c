"""The upload page: one ingest per posted file, the upload table's rows and name clashes, and ingest status."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from access.catalog import CatalogView, catalog_view_for_user, ingests_shown
from core.config import config_get
from core.errors import ApiError, NotFound
from datasets.ingest import dataset_slug
from datasets.models import NAME_VALIDATOR, Dataset, DatasetKind, Study
from datasets.selectors import ingest_get_for_user, ingest_list_for_study
from datasets.services import ingest_job_create
from studies.forms import DELIMITER_CHOICES, UploadFileForm
from studies.views.common import _require_steward, _study, page_errors
from studies.views.staging import _staged_get
from studies.wizard_state import STEP_DEMOGRAPHICS, STEP_IMPORTING, STEP_KEYS, study_setup_state
from tenants.page_kit import request_tenant

POLL_FAST_COUNT = 120


def _view(request: HttpRequest, study: Study) -> CatalogView:
    return catalog_view_for_user(user=request.user, tenant=request_tenant(request), study=study)


def _free_name(study: Study, base: str) -> str:
    """``base`` or ``base_2``, ``base_3``... whichever is not yet a dataset of the study."""
    taken = set(Dataset.objects.filter(study=study).values_list("name", flat=True))
    if base not in taken:
        return base
    for number in range(2, 1000):
        suffix = f"_{number}"
        candidate = base[: 63 - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    return base


def _uploader_context(study: Study) -> dict[str, Any]:
    existing = {dataset.name: dataset.kind for dataset in Dataset.objects.filter(study=study)}
    return {"existing_datasets": existing}


def _too_large_message(request: HttpRequest) -> str:
    limit = int(config_get("upload_max_bytes", request_tenant(request)))
    return f"The file is larger than this workspace's upload limit ({_human_bytes(limit)}). Split it or ask an owner."


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


@require_http_methods(["GET", "POST"])
@page_errors
def study_upload(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the multi-file upload page. POST: one file (from the page's script) -> its ingest's status fragment."""
    study = _study(request, slug)
    if request.method == "POST":
        return _upload_one(request, study)
    _require_steward(request, "upload data")
    state = study_setup_state(study, staged=_staged_get(request, study) is not None)
    if state.step in {STEP_DEMOGRAPHICS, STEP_KEYS, STEP_IMPORTING}:
        return redirect("study_setup", slug=study.slug)
    context = {
        "study": study,
        "state": state,
        "ingests": ingests_shown(_view(request, study), ingest_list_for_study(study=study, limit=10)),
        "upload_limit": config_get("upload_max_bytes", request_tenant(request)),
        **_uploader_context(study),
    }
    return render(request, "datasets/study_upload.html", context)


def _upload_error(request: HttpRequest, message: str, status: int, code: str = "") -> HttpResponse:
    return render(request, "datasets/_upload_error.html", {"message": message, "code": code}, status=status)


def _upload_too_large(request: HttpRequest) -> bool:
    """Parse the body (the size-limit handler flags the request while it streams in), then read the flag."""
    request.FILES  # noqa: B018 - parsing is the point
    return bool(getattr(request, "upload_too_large", False))


def _upload_one(request: HttpRequest, study: Study) -> HttpResponse:
    if _upload_too_large(request):
        return _upload_error(request, _too_large_message(request), 413, "file_too_large")
    _require_steward(request, "upload data")
    form = UploadFileForm(request.POST, request.FILES)
    if not form.is_valid():
        messages = [str(error) for errors in form.errors.values() for error in errors]
        return _upload_error(request, " ".join(messages), 422, "invalid_input")
    choice = form.cleaned_data.get("on_conflict") or "version"
    if choice == "skip":
        return render(request, "datasets/_upload_error.html", {"message": "Skipped.", "skipped": True}, status=200)
    name = form.target_name()
    if not name:
        return _upload_error(request, "Give the new dataset a name.", 422, "invalid_name")
    try:
        NAME_VALIDATOR(name)
    except Exception:  # noqa: BLE001 - a ValidationError: report it in words
        return _upload_error(
            request,
            f"Invalid dataset name {name!r}: use 1-63 lower-case letters, digits or underscores, "
            "starting with a letter.",
            422,
            "invalid_name",
        )
    existing = Dataset.objects.filter(study=study, name=name).first()
    if choice == "new" and existing is not None:
        return _upload_error(
            request, f"A dataset named {name!r} already exists; choose another name.", 409, "dataset_exists"
        )
    kind = existing.kind if existing is not None else form.cleaned_data["kind"]
    try:
        job = ingest_job_create(
            tenant=request_tenant(request),
            actor=request.user,
            study=study,
            upload=form.cleaned_data["file"],
            dataset_name=name,
            kind=kind,
            title=form.cleaned_data.get("title") or "",
            note=form.cleaned_data.get("note") or "",
            encoding=form.cleaned_data.get("encoding") or "",
            delimiter=form.cleaned_data.get("delimiter") or "auto",
            request=request,
        )
    except ApiError as exc:
        return _upload_error(request, exc.message, exc.status, exc.code)
    ingests_shown(_view(request, study), [job])
    return render(request, "datasets/_ingest_status.html", {"job": job, "study": study}, status=202)


@require_GET
@page_errors
def upload_row(request: HttpRequest, slug: str) -> HttpResponse:
    """A row of the upload table for a newly chosen file: its suggested dataset name and, if taken, the choices."""
    study = _study(request, slug)
    _require_steward(request, "upload data")
    filename = request.GET.get("filename", "")[:255]
    row = request.GET.get("row", "0")
    row = row if row.isdigit() else "0"
    name = dataset_slug(filename or "dataset.csv")
    return render(request, "datasets/_upload_row.html", _row_context(study, row, filename, name))


def _row_context(study: Study, row: str, filename: str, name: str, kind: str = "") -> dict[str, Any]:
    existing = Dataset.objects.filter(study=study, name=name).first()
    if not kind:
        kind = existing.kind if existing is not None else DatasetKind.MEASURE
    if kind == DatasetKind.MEASURE and study.demographics_id is None and existing is None:
        kind = DatasetKind.DEMOGRAPHICS
    return {
        "study": study,
        "row": row,
        "filename": filename,
        "name": name,
        "kind": kind,
        "kinds": DatasetKind.choices,
        "delimiters": DELIMITER_CHOICES,
        "existing": existing,
        "new_name": _free_name(study, name) if existing is not None else "",
    }


@require_GET
@page_errors
def upload_check(request: HttpRequest, slug: str) -> HttpResponse:
    """The name-clash cell of one upload row, re-rendered when the user edits the dataset name."""
    study = _study(request, slug)
    _require_steward(request, "upload data")
    row = request.GET.get("row", "0")
    row = row if row.isdigit() else "0"
    name = request.GET.get(f"name-{row}", request.GET.get("name", "")).strip()[:63]
    return render(request, "datasets/_upload_clash.html", _row_context(study, row, "", name))


@require_GET
@page_errors
def ingest_status(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    """The live status of one ingest (polled by the page every second until it is finished)."""
    study = _study(request, slug)
    job = ingest_get_for_user(user=request.user, tenant=request_tenant(request), job_id=job_id)
    if job.study_id != study.pk:
        raise NotFound("No such ingest.")
    ingests_shown(_view(request, study), [job])
    polls = request.GET.get("poll", "0")
    polls_done = int(polls) if polls.isdigit() else 0
    response = render(
        request,
        "datasets/_ingest_status.html",
        {
            "job": job,
            "study": study,
            "wizard": request.GET.get("wizard") == "1",
            "poll": polls_done + 1,
            # Every second for two minutes, then every five seconds (a job waiting for a stopped worker).
            "poll_delay": "1s" if polls_done < POLL_FAST_COUNT else "5s",
        },
    )
    if request.GET.get("wizard") == "1" and job.is_finished:
        response["HX-Redirect"] = reverse("study_setup", kwargs={"slug": study.slug})
    return response
