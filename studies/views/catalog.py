"""Dataset pages: the data dictionary (page and CSV download) and editing one column's metadata."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from access.catalog import catalog_view_for_user
from access.selectors import dataset_explain_for_user
from core.errors import ApiError, Forbidden, NotFound
from datasets.dictionary import dictionary_csv, dictionary_download_record
from datasets.metadata_services import dataset_column_meta_update
from datasets.models import Dataset, Sensitivity, Study
from datasets.selectors import dataset_get, version_get
from studies.catalog_reads import diff_summary, sensitive_column_count, version_list
from studies.column_rows import column_rows_for_view
from studies.forms import ColumnMetaForm
from studies.views.common import _require_steward, _study, page_errors
from tenants.page_kit import can_manage, request_tenant


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
    view = catalog_view_for_user(user=request.user, tenant=request_tenant(request), study=study)
    view.annotate(dataset.name, version)
    history = [
        {"version": view.annotate(dataset.name, item), "diff": diff_summary(view.diff(dataset.name, item))}
        for item in versions
    ]
    return render(
        request,
        "datasets/dataset_detail.html",
        {
            "study": study,
            "dataset": dataset,
            "version": version,
            "is_latest": version.number == versions[0].number,
            "columns": column_rows_for_view(study, dataset, version, view),
            "exact": view.exact_counts(dataset.name),
            "rules": view.rules,
            "access": dataset_explain_for_user(user=request.user, tenant=request_tenant(request), dataset=dataset),
            "versions": history,
            "sensitive_count": sensitive_column_count(dataset),
            "can_manage": can_manage(request),
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
    view = catalog_view_for_user(user=request.user, tenant=request_tenant(request), study=study)
    response = HttpResponse(
        dictionary_csv(dataset, version, view.profiles(dataset.name, version)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{dataset.name}_v{version.number}_dictionary.csv"'
    dictionary_download_record(actor=request.user, request=request, dataset=dataset, version=version)
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
        "can_manage": can_manage(request),
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
                    tenant=request_tenant(request),
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
    view = catalog_view_for_user(user=request.user, tenant=request_tenant(request), study=study)
    rows = column_rows_for_view(study, dataset, version, view)
    row = next((item for item in rows if item.name == column), None)
    if row is None:
        raise NotFound("No such column.")
    if editing and request.method == "POST" and "error" in context:
        row.description = request.POST.get("description", "")
        row.sensitivity = request.POST.get("sensitivity", "")
    context.update({"column": row, "editing": editing})
    return render(request, "datasets/_column_row.html", context, status=status)
