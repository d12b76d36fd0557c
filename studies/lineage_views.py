"""Pages of a dataset version's lineage (every run and export that used it) and of dataset/version deletion."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from access.catalog import catalog_view_for_user
from datasets.deletion_services import dataset_delete, dataset_version_delete, version_was_read
from datasets.selectors import (
    dataset_get,
    dataset_get_any,
    study_get_for_user,
    version_get,
    version_get_any,
    versions_all,
)
from queries.selectors import version_usage_for_user
from studies.views.common import page_errors
from tenants.page_kit import request_tenant
from tenants.role_checks import role_require
from tenants.roles import Role


@require_http_methods(["GET"])
@page_errors
def version_detail(request: HttpRequest, slug: str, name: str, number: int) -> HttpResponse:
    """A version (also of a deleted dataset): its facts, and every run and export that used it.

    Stewards and owners see everybody's runs and exports; analysts see their own.
    """
    study = study_get_for_user(user=request.user, tenant=request_tenant(request), slug=slug)
    dataset = dataset_get_any(study=study, name=name)
    version = version_get_any(dataset=dataset, number=number)
    usage = version_usage_for_user(user=request.user, tenant=request_tenant(request), version=version)
    catalog_view_for_user(user=request.user, tenant=request_tenant(request), study=study).annotate(
        dataset.name, version
    )
    return render(
        request,
        "datasets/version_detail.html",
        {
            "study": study,
            "dataset": dataset,
            "version": version,
            "usage": usage,
            "export_count": sum(len(run.exports.all()) for run in usage.runs),
            "versions": versions_all(dataset),
            "can_manage": usage.everyone,
        },
    )


@require_http_methods(["GET", "POST"])
@page_errors
def dataset_delete_view(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """Confirm (GET) and delete (POST) a dataset: stewards and owners; the dataset becomes a tombstone."""
    study = study_get_for_user(user=request.user, tenant=request_tenant(request), slug=slug)
    dataset = dataset_get(study=study, name=name)
    role_require(user=request.user, tenant=request_tenant(request), minimum=Role.STEWARD, action="delete datasets")
    versions = list(dataset.versions.all())
    if request.method == "POST":
        if request.POST.get("confirm_name", "").strip() != dataset.name:
            context = {"study": study, "dataset": dataset, "versions": _with_use(versions)}
            context["error"] = f"Type the dataset's name ({dataset.name}) to confirm."
            return render(request, "datasets/dataset_delete.html", context, status=422)
        dataset_delete(tenant=request_tenant(request), actor=request.user, dataset=dataset, request=request)
        messages.success(request, f"Deleted {dataset.name}. Its audit trail and lineage are kept.")
        return redirect("study_detail", slug=study.slug)
    return render(
        request, "datasets/dataset_delete.html", {"study": study, "dataset": dataset, "versions": _with_use(versions)}
    )


def _with_use(versions: list[Any]) -> list[dict[str, Any]]:
    return [{"version": version, "read": version_was_read(version)} for version in versions]


@require_POST
@page_errors
def version_delete_view(request: HttpRequest, slug: str, name: str, number: int) -> HttpResponse:
    """Delete one version (stewards and owners); new queries use the newest remaining version."""
    study = study_get_for_user(user=request.user, tenant=request_tenant(request), slug=slug)
    dataset = dataset_get(study=study, name=name)
    version = version_get(dataset=dataset, number=number)
    dataset_version_delete(tenant=request_tenant(request), actor=request.user, version=version, request=request)
    messages.success(request, f"Deleted {dataset.name} v{number}. Its lineage is kept.")
    return redirect("dataset_detail", slug=study.slug, name=dataset.name)
