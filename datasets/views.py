"""Pages: studies, the study setup wizard, uploads, the catalog, dataset pages and history.

Views are thin: they read through selectors, write through services, and turn the services' errors into pages
(404, 403 with the reason) or form messages (invalid input, conflicts).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.catalog import catalog_view_for_user
from access.selectors import dataset_explain_for_user, datasets_levels_for_user
from bdt_project.config import config_get
from bdt_project.errors import ApiError, Forbidden, NotFound
from datasets.dictionary import dictionary_csv
from datasets.forms import (
    DELIMITER_CHOICES,
    ColumnMetaForm,
    DemographicsUploadForm,
    KeyColumnsForm,
    StudyCreateForm,
    UploadFileForm,
    study_slug_suggest,
)
from datasets.ingest import dataset_slug, delimiter_from_name, delimiter_name, suggest_key_columns
from datasets.metadata_services import dataset_column_meta_update
from datasets.models import NAME_VALIDATOR, Dataset, DatasetKind, Sensitivity, Study
from datasets.page_selectors import (
    STEP_DEMOGRAPHICS,
    STEP_DONE,
    STEP_IMPORTING,
    STEP_KEYS,
    STEP_MEASURES,
    SetupState,
    column_rows,
    column_rows_for_view,
    diff_summary,
    sensitive_column_count,
    study_history,
    study_list_annotate,
    study_setup_state,
    version_list,
)
from datasets.preview import CsvPreview, PreviewError, csv_preview
from datasets.selectors import (
    dataset_get,
    dataset_list_for_study,
    ingest_get_for_user,
    ingest_list_for_study,
    study_get_for_user,
    study_list_for_user,
    version_get,
)
from datasets.services import ingest_job_create, study_create, study_update
from datasets.storage import setup_upload_name, setup_upload_prefix, storage_delete, storage_save
from tenants.access import role_require
from tenants.roles import Role, role_at_least

HISTORY_PAGE_SIZE = 50
POLL_FAST_COUNT = 120

View = Callable[..., HttpResponse]


# --- Helpers -----------------------------------------------------------------------------------------------------


def _tenant(request: HttpRequest) -> Any:
    return request.tenant  # type: ignore[attr-defined]


def _can_manage(request: HttpRequest) -> bool:
    """Steward or above: may create studies, upload data and edit metadata."""
    membership = getattr(request, "membership", None)
    return membership is not None and role_at_least(membership.role, Role.STEWARD)


def _is_fragment(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False)) or request.headers.get("X-Requested-With") == "XMLHttpRequest"


def _error_response(request: HttpRequest, exc: ApiError) -> HttpResponse:
    """A service error as a page (or a fragment for htmx/XHR requests)."""
    if _is_fragment(request):
        return render(request, "datasets/_error.html", {"error": exc}, status=exc.status)
    if isinstance(exc, NotFound):
        return render(request, "404.html", status=404)
    if isinstance(exc, Forbidden):
        return render(request, "datasets/forbidden.html", {"error": exc}, status=403)
    return render(request, "datasets/error.html", {"error": exc}, status=exc.status)


def page_errors(view: View) -> View:
    """Turn :class:`ApiError` raised by selectors/services into 404/403/4xx pages."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ApiError as exc:
            return _error_response(request, exc)

    return wrapper


def _study(request: HttpRequest, slug: str) -> Study:
    return study_get_for_user(user=request.user, tenant=_tenant(request), slug=slug)


def _require_steward(request: HttpRequest, action: str) -> None:
    role_require(user=request.user, tenant=_tenant(request), minimum=Role.STEWARD, action=action)


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


# --- Wizard staging (the demographics file waits here until its key columns are confirmed) ----------------------


def _staged_key(request: HttpRequest, study: Study) -> str:
    return f"bdt.setup.{_tenant(request).schema_name}.{study.pk}"


def _staged_get(request: HttpRequest, study: Study) -> dict[str, Any] | None:
    staged = request.session.get(_staged_key(request, study))
    if not isinstance(staged, dict) or not staged.get("name"):
        return None
    if not str(staged["name"]).startswith(setup_upload_prefix(study.pk)) or not default_storage.exists(staged["name"]):
        request.session.pop(_staged_key(request, study), None)
        return None
    return staged


def _staged_discard(request: HttpRequest, study: Study) -> None:
    staged = request.session.pop(_staged_key(request, study), None)
    if isinstance(staged, dict) and str(staged.get("name", "")).startswith(setup_upload_prefix(study.pk)):
        storage_delete([staged["name"]])


def _staged_preview(staged: dict[str, Any]) -> CsvPreview:
    with default_storage.open(staged["name"], "rb") as handle:
        return csv_preview(
            handle, encoding=staged.get("encoding") or None, delimiter=delimiter_from_name(staged.get("delimiter"))
        )


def _key_initial(study: Study, header: list[str], filename: str) -> dict[str, str]:
    """The key columns to preselect: the study's own (when in the header), else the suggestions from the header."""
    suggested = suggest_key_columns(header)
    initial: dict[str, str] = {}
    for key, attribute in (
        ("id_column", "id"),
        ("session_column", "session"),
        ("age_column", "age"),
        ("sex_column", "sex"),
        ("site_column", "site"),
    ):
        current = getattr(study, key)
        guess = getattr(suggested, attribute, None)
        initial[key] = current if current and current in header else (guess if guess in header else "")
    initial["dataset_name"] = (
        study.demographics.name if study.demographics_id else dataset_slug(filename)  # type: ignore[union-attr]
    )
    return initial


# --- Study list and creation -------------------------------------------------------------------------------------


@require_GET
@page_errors
def study_list(request: HttpRequest) -> HttpResponse:
    """Every study of the workspace, with its size and freshness."""
    studies = study_list_annotate(study_list_for_user(user=request.user, tenant=_tenant(request)))
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


# --- Setup wizard ------------------------------------------------------------------------------------------------


def _setup_context(request: HttpRequest, study: Study, **extra: Any) -> dict[str, Any]:
    staged = _staged_get(request, study)
    state = study_setup_state(study, staged=staged is not None)
    context: dict[str, Any] = {
        "study": study,
        "state": state,
        "steps": state.steps(),
        "staged": staged,
        "can_manage": _can_manage(request),
        "upload_limit": config_get("upload_max_bytes", _tenant(request)),
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
            context["state"] = study_setup_state(study)
            context["steps"] = context["state"].steps()
        else:
            context["preview"] = preview
            context["keys_form"] = KeyColumnsForm(
                header=preview.header, initial=_key_initial(study, preview.header, staged["filename"])
            )
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
                study_update(tenant=_tenant(request), actor=request.user, study=study, request=request, **keys)
                with default_storage.open(staged["name"], "rb") as handle:
                    ingest_job_create(
                        tenant=_tenant(request),
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


# --- Catalog -----------------------------------------------------------------------------------------------------


@require_GET
@page_errors
def study_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The study's catalog: key columns, demographics, datasets, recent ingests."""
    study = _study(request, slug)
    state = study_setup_state(study, staged=_staged_get(request, study) is not None)
    if state.step in {STEP_DEMOGRAPHICS, STEP_KEYS, STEP_IMPORTING}:
        return redirect("study_setup", slug=study.slug)
    levels = datasets_levels_for_user(user=request.user, tenant=_tenant(request), study=study)
    datasets: list[dict[str, Any]] = []
    for dataset in dataset_list_for_study(study=study):
        versions = list(dataset.versions.all())
        if versions:
            datasets.append(
                {
                    "dataset": dataset,
                    "latest": versions[0],
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
            "ingests": ingest_list_for_study(study=study, limit=10),
            "can_manage": _can_manage(request),
        },
    )


# --- Upload page -------------------------------------------------------------------------------------------------


def _uploader_context(study: Study) -> dict[str, Any]:
    existing = {dataset.name: dataset.kind for dataset in Dataset.objects.filter(study=study)}
    return {"existing_datasets": existing}


def _too_large_message(request: HttpRequest) -> str:
    limit = int(config_get("upload_max_bytes", _tenant(request)))
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
        "ingests": ingest_list_for_study(study=study, limit=10),
        "upload_limit": config_get("upload_max_bytes", _tenant(request)),
        **_uploader_context(study),
    }
    return render(request, "datasets/study_upload.html", context)


def _upload_error(request: HttpRequest, message: str, status: int, code: str = "") -> HttpResponse:
    return render(request, "datasets/_error.html", {"message": message, "code": code}, status=status)


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
        return render(request, "datasets/_error.html", {"message": "Skipped.", "skipped": True}, status=200)
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
            tenant=_tenant(request),
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
    job = ingest_get_for_user(user=request.user, tenant=_tenant(request), job_id=job_id)
    if job.study_id != study.pk:
        raise NotFound("No such ingest.")
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


# --- Dataset page ------------------------------------------------------------------------------------------------


def _version_param(request: HttpRequest) -> int | None:
    raw = (request.GET.get("version") or request.POST.get("version") or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise NotFound("No such version.")
    return int(raw)


def _dataset_and_version(request: HttpRequest, slug: str, name: str) -> tuple[Study, Dataset, Any, list[Any]]:
    study = _study(request, slug)
    dataset = dataset_get(study=study, name=name)
    versions = version_list(dataset)
    number = _version_param(request)
    if number is not None:
        version = version_get(dataset=dataset, number=number)
    elif versions:
        version = versions[0]
    else:
        raise NotFound("This dataset has no version yet.")
    return study, dataset, version, versions


@require_GET
@page_errors
def dataset_detail(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """A dataset: its data dictionary (latest or ``?version=N``) and version history with diffs."""
    study, dataset, version, versions = _dataset_and_version(request, slug, name)
    history = [{"version": item, "diff": diff_summary(item.diff)} for item in versions]
    return render(
        request,
        "datasets/dataset_detail.html",
        {
            "study": study,
            "dataset": dataset,
            "version": version,
            "is_latest": version.number == versions[0].number,
            "columns": column_rows_for_view(
                column_rows(study, dataset, version),
                catalog_view_for_user(user=request.user, tenant=_tenant(request), study=study),
                dataset.name,
            ),
            "access": dataset_explain_for_user(user=request.user, tenant=_tenant(request), dataset=dataset),
            "versions": history,
            "sensitive_count": sensitive_column_count(dataset),
            "can_manage": _can_manage(request),
            "sensitivities": _sensitivity_choices(),
        },
    )


def _sensitivity_choices() -> list[tuple[str, str]]:
    return [(value, "None" if not value else str(label)) for value, label in Sensitivity.choices]


@require_GET
@page_errors
def dataset_dictionary(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """The data dictionary as a CSV download."""
    study, dataset, version, _versions = _dataset_and_version(request, slug, name)
    view = catalog_view_for_user(user=request.user, tenant=_tenant(request), study=study)
    response = HttpResponse(
        dictionary_csv(
            dataset,
            version,
            view.values_hidden(dataset.name),
            functools.partial(view.count, dataset.name),
        ),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{dataset.name}_v{version.number}_dictionary.csv"'
    return response


@require_http_methods(["GET", "POST"])
@page_errors
def dataset_column_meta(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """One dictionary row: GET shows it (``?edit=1``: as a form, stewards); POST saves description + sensitivity."""
    study, dataset, version, _versions = _dataset_and_version(request, slug, name)
    column = (request.POST.get("column") if request.method == "POST" else request.GET.get("column")) or ""
    context: dict[str, Any] = {
        "study": study,
        "dataset": dataset,
        "version": version,
        "can_manage": _can_manage(request),
        "sensitivities": _sensitivity_choices(),
    }
    status = 200
    editing = request.GET.get("edit") == "1"
    if request.method == "POST":
        form = ColumnMetaForm(request.POST)
        editing = True
        if form.is_valid():
            try:
                dataset = dataset_column_meta_update(
                    tenant=_tenant(request),
                    actor=request.user,
                    dataset=dataset,
                    column=form.cleaned_data["column"],
                    description=form.cleaned_data["description"],
                    sensitivity=form.cleaned_data["sensitivity"],
                    request=request,
                )
                context["dataset"] = dataset
                context["saved"] = True
                editing = False
            except (Forbidden, NotFound):
                raise
            except ApiError as exc:
                context["error"] = exc.message
                status = exc.status
        else:
            context["error"] = " ".join(str(e) for errors in form.errors.values() for e in errors)
            status = 422
    elif editing:
        _require_steward(request, "edit column descriptions")
    view = catalog_view_for_user(user=request.user, tenant=_tenant(request), study=study)
    rows = column_rows_for_view(column_rows(study, dataset, version), view, dataset.name)
    row = next((item for item in rows if item.name == column), None)
    if row is None:
        raise NotFound("No such column.")
    if editing and request.method == "POST" and "error" in context:
        row.description = request.POST.get("description", "")
        row.sensitivity = request.POST.get("sensitivity", "")
    context.update({"column": row, "editing": editing})
    return render(request, "datasets/_column_row.html", context, status=status)


# --- History -----------------------------------------------------------------------------------------------------


@require_GET
@page_errors
def study_history_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Who changed what in the study and its datasets, field by field."""
    study = _study(request, slug)
    entries = study_history(study)
    page = Paginator(entries, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "datasets/study_history.html", {"study": study, "page": page})
