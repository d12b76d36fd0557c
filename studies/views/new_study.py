"""The wizard for a new study: nothing is created until its demographics file is registered.

Step 1 keeps the study's name, slug, engine and optional BDT configuration in the session (a draft); step 2 stages
the demographics file; step 3 confirms the key columns (preselected from the configuration the way BDT reads it) and
queues the import, whose ingest creates the study and registers the file in one transaction. A refused file leaves
no study behind: the wizard returns to step 2 with the reason.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.catalog import ingest_shown_to_uploader
from core.config import config_get
from core.errors import ApiError, Forbidden, NotFound
from datasets.import_services import study_import_create, study_plan
from datasets.ingest import BdtConfig, delimiter_from_name, delimiter_name
from datasets.models import IngestJob, IngestStatus, Study
from datasets.services import study_import_pending
from datasets.storage import setup_draft_prefix, storage_delete, storage_save
from studies.forms import DemographicsUploadForm, KeyColumnsForm, StudyCreateForm
from studies.preview import PreviewError, csv_preview
from studies.views.common import _require_steward, page_errors
from studies.views.keys_prefill import key_prefill
from studies.views.staging import _staged_preview
from studies.views.uploads import POLL_FAST_COUNT, _too_large_message, _upload_too_large
from studies.wizard_state import STEP_DEMOGRAPHICS, STEP_IMPORTING, STEP_KEYS, SetupState
from tenants.page_kit import request_tenant

URLS = {"demographics": "study_draft_demographics", "keys": "study_draft_keys", "discard": "study_draft_discard"}


def _key(request: HttpRequest) -> str:
    return f"bdt.newstudy.{request_tenant(request).schema_name}"


def _draft(request: HttpRequest) -> dict[str, Any] | None:
    draft = request.session.get(_key(request))
    return draft if isinstance(draft, dict) and draft.get("slug") and draft.get("token") else None


def _save(request: HttpRequest, draft: dict[str, Any]) -> None:
    request.session[_key(request)] = draft
    request.session.modified = True


def _staged(draft: dict[str, Any]) -> dict[str, Any] | None:
    staged = draft.get("staged")
    if not isinstance(staged, dict) or not str(staged.get("name", "")).startswith(setup_draft_prefix(draft["token"])):
        return None
    return staged if default_storage.exists(staged["name"]) else None


def _discard_staged(request: HttpRequest, draft: dict[str, Any]) -> None:
    staged = draft.pop("staged", None)
    if isinstance(staged, dict) and str(staged.get("name", "")).startswith(setup_draft_prefix(draft["token"])):
        storage_delete([staged["name"]])
    _save(request, draft)


def _config(draft: dict[str, Any]) -> BdtConfig | None:
    raw = draft.get("config")
    if not isinstance(raw, dict):
        return None
    return BdtConfig(**{**raw, "ignored": tuple(raw.get("ignored") or ())})


def _config_summary(draft: dict[str, Any]) -> dict[str, Any] | None:
    config = _config(draft)
    if config is None:
        return None
    defaults = config.with_bdt_defaults()
    return {
        "filename": draft.get("config_filename", ""),
        "layout": config.layout,
        "defaults": f"ages {defaults.default_age_min:g}–{defaults.default_age_max:g}, "
        f"{defaults.max_display_rows} rows per preview page",
        "ignored": config.ignored_notes(),
    }


def _job(request: HttpRequest, draft: dict[str, Any], key: str) -> IngestJob | None:
    job_id = draft.get(key)
    if not isinstance(job_id, int):
        return None
    mine = IngestJob.objects.filter(pk=job_id, created_by_id=request.user.pk)
    job = mine.select_related("study", "version").first()
    if job is None or job.new_study.get("slug") != draft["slug"]:
        return None
    return ingest_shown_to_uploader(job)  # the member's own import


@require_http_methods(["GET", "POST"])
@page_errors
def study_new(request: HttpRequest) -> HttpResponse:
    """Wizard step 1: the study's name, short name, engine and (optionally) its BDT configuration."""
    _require_steward(request, "create studies")
    form = StudyCreateForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            if Study.objects.filter(slug=data["slug"]).exists() or study_import_pending(data["slug"]):
                form.add_error("slug", f"A study {data['slug']!r} already exists (or is being imported).")
            else:
                previous = _draft(request)
                if previous is not None:
                    _discard_staged(request, previous)
                config: BdtConfig | None = data.get("config")
                _save(
                    request,
                    {
                        "slug": data["slug"],
                        "name": data["name"],
                        "description": data["description"].strip(),
                        "engine": data["engine"],
                        "analyst_level": data.get("analyst_level") or "",
                        "token": uuid.uuid4().hex,
                        "config": config.as_dict() if config is not None else None,
                        "config_filename": _filename(request.FILES.get("config")) if config else "",
                    },
                )
                return redirect("study_draft_setup")
        return render(request, "datasets/study_new.html", {"form": form, "steps": _steps("create")}, status=422)
    return render(request, "datasets/study_new.html", {"form": form, "steps": _steps("create")})


def _filename(upload: Any) -> str:
    return str(getattr(upload, "name", "") or "")[:200]


def _steps(step: str) -> list[dict[str, Any]]:
    return SetupState(step=step).steps()


def _context(request: HttpRequest, draft: dict[str, Any], **extra: Any) -> dict[str, Any]:
    staged = _staged(draft)
    running = _job(request, draft, "job")
    step = STEP_IMPORTING if running is not None else (STEP_KEYS if staged is not None else STEP_DEMOGRAPHICS)
    context: dict[str, Any] = {
        "draft": draft,
        "step": step,
        "steps": _steps(step),
        "staged": staged,
        "job": running,
        "config_summary": _config_summary(draft),
        "upload_limit": config_get("upload_max_bytes", request_tenant(request)),
        "urls": {name: reverse(url) for name, url in URLS.items()},
        "state": SetupState(step=step, demographics_job=_job(request, draft, "failed")),
    }
    if running is not None:
        context["status_url"] = reverse("study_draft_ingest", kwargs={"job_id": running.pk})
    elif step == STEP_DEMOGRAPHICS:
        context["upload_form"] = DemographicsUploadForm()
    elif staged is not None:
        try:
            preview = _staged_preview(staged)
        except PreviewError as exc:
            _discard_staged(request, draft)
            return _context(request, draft, upload_error=exc.message)
        prefill = key_prefill(
            preview.header,
            staged["filename"],
            config=_config(draft),
            config_name=draft.get("config_filename") or "the configuration",
        )
        context.update(preview=preview, key_notes=prefill.notes)
        context["keys_form"] = KeyColumnsForm(header=preview.header, initial=prefill.initial)
    context.update(extra)
    return context


def _draft_or_start(request: HttpRequest) -> dict[str, Any] | HttpResponse:
    _require_steward(request, "create studies")
    draft = _draft(request)
    return draft if draft is not None else redirect("study_new")


@require_GET
@page_errors
def study_draft_setup(request: HttpRequest) -> HttpResponse:
    """Wizard steps 2-3 of a new study (and its import's progress); the study's own setup once it exists."""
    draft = _draft_or_start(request)
    if isinstance(draft, HttpResponse):
        return draft
    job = _job(request, draft, "job")
    if job is not None and job.is_finished:
        return _finished(request, draft, job)
    return render(request, "datasets/study_draft_setup.html", _context(request, draft))


def _finished(request: HttpRequest, draft: dict[str, Any], job: IngestJob) -> HttpResponse:
    if job.status == IngestStatus.SUCCEEDED and job.study is not None:
        request.session.pop(_key(request), None)
        return redirect("study_setup", slug=job.study.slug)
    draft.pop("job", None)
    draft["failed"] = job.pk
    _save(request, draft)
    return redirect("study_draft_setup")


@require_POST
@page_errors
def study_draft_demographics(request: HttpRequest) -> HttpResponse:
    """Wizard step 2 of a new study: stage the demographics file and show its preview for the key columns."""
    draft = _draft_or_start(request)
    if isinstance(draft, HttpResponse):
        return draft
    if _upload_too_large(request):
        context = _context(request, draft, upload_error=_too_large_message(request))
        return render(request, "datasets/study_draft_setup.html", context, status=413)
    if _job(request, draft, "job") is not None:
        return redirect("study_draft_setup")
    form = DemographicsUploadForm(request.POST, request.FILES)
    error = None
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            delimiter = delimiter_from_name(form.cleaned_data["delimiter"])
            csv_preview(upload, encoding=form.cleaned_data["encoding"] or None, delimiter=delimiter)
        except PreviewError as exc:
            error = exc.message
        else:
            upload.seek(0)
            _discard_staged(request, draft)
            name = storage_save(f"{setup_draft_prefix(draft['token'])}{uuid.uuid4().hex}.csv", upload)
            draft["staged"] = {
                "name": name,
                "filename": (upload.name or "demographics.csv")[:255],
                "encoding": form.cleaned_data["encoding"],
                "delimiter": form.cleaned_data["delimiter"],
                "size": upload.size,
            }
            draft.pop("failed", None)
            _save(request, draft)
            return redirect("study_draft_setup")
    if error:
        form.add_error("file", error)
    _discard_staged(request, draft)
    context = _context(request, draft, upload_form=form)
    return render(request, "datasets/study_draft_setup.html", context, status=422)


@require_POST
@page_errors
def study_draft_keys(request: HttpRequest) -> HttpResponse:
    """Wizard step 3 of a new study: confirm the key columns and queue the import that creates the study."""
    draft = _draft_or_start(request)
    if isinstance(draft, HttpResponse):
        return draft
    staged = _staged(draft)
    if staged is None or _job(request, draft, "job") is not None:
        return redirect("study_draft_setup")
    try:
        preview = _staged_preview(staged)
    except PreviewError:
        _discard_staged(request, draft)
        return redirect("study_draft_setup")
    form = KeyColumnsForm(request.POST, header=preview.header)
    if form.is_valid():
        data = form.cleaned_data
        config = _config(draft)
        plan = study_plan(config, {key: data.get(key) or "" for key in KeyColumnsForm.KEY_FIELDS})
        try:
            with default_storage.open(staged["name"], "rb") as handle:
                job = study_import_create(
                    tenant=request_tenant(request),
                    actor=request.user,
                    slug=draft["slug"],
                    name=draft["name"],
                    description=draft.get("description", ""),
                    engine=draft.get("engine", "duckdb"),
                    analyst_level=draft.get("analyst_level") or "",
                    upload=File(handle, name=staged["filename"]),  # type: ignore[arg-type]
                    plan=plan,
                    dataset_name=data["dataset_name"],
                    encoding=staged.get("encoding") or "",
                    delimiter=delimiter_name(preview.delimiter),  # the separator the keys were chosen from
                    request=request,
                )
        except Forbidden:
            raise
        except ApiError as exc:
            form.add_error(None, exc.message)
        else:
            _discard_staged(request, draft)
            draft["job"] = job.pk
            draft.pop("failed", None)
            _save(request, draft)
            return redirect("study_draft_setup")
    context = _context(request, draft)
    context["keys_form"] = form
    return render(request, "datasets/study_draft_setup.html", context, status=422)


@require_POST
@page_errors
def study_draft_discard(request: HttpRequest) -> HttpResponse:
    """Wizard: drop the staged demographics file of a new study and choose another one."""
    draft = _draft_or_start(request)
    if isinstance(draft, HttpResponse):
        return draft
    _discard_staged(request, draft)
    return redirect("study_draft_setup")


@require_POST
@page_errors
def study_draft_cancel(request: HttpRequest) -> HttpResponse:
    """Wizard: abandon the new study (its staged file is deleted; nothing was created)."""
    draft = _draft_or_start(request)
    if isinstance(draft, HttpResponse):
        return draft
    _discard_staged(request, draft)
    request.session.pop(_key(request), None)
    return redirect("study_list")


@require_GET
@page_errors
def study_draft_ingest(request: HttpRequest, job_id: int) -> HttpResponse:
    """The live status of the import creating the new study (polled until it is finished)."""
    draft = _draft_or_start(request)
    if isinstance(draft, HttpResponse):
        raise NotFound("No such ingest.")
    job = _job(request, draft, "job")
    if job is None or job.pk != job_id:
        raise NotFound("No such ingest.")
    polls = request.GET.get("poll", "0")
    done = int(polls) if polls.isdigit() else 0
    response = render(
        request,
        "datasets/_ingest_status.html",
        {
            "job": job,
            "study": job.study,
            "status_url": reverse("study_draft_ingest", kwargs={"job_id": job.pk}),
            "wizard": True,
            "poll": done + 1,
            "poll_delay": "1s" if done < POLL_FAST_COUNT else "5s",
        },
    )
    if job.is_finished:
        response["HX-Redirect"] = reverse("study_draft_setup")
    return response
