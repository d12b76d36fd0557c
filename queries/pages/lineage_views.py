"""Pages of run lineage: rerun (same versions), re-run on latest, and the comparison of a rerun with its original."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import NotFound
from queries.lineage import run_rerun
from queries.models import QueryRun
from queries.protected_results import run_compare_for_user, run_sizes_exact_for_user
from queries.selectors import run_get_for_user
from tenants.page_kit import page_errors, request_tenant


def lineage_context(run: QueryRun, *, user: Any, tenant: Any, compare_raw: str | None) -> dict[str, Any]:
    """The run page's lineage section: exports, reruns, deleted inputs, and (``?compare=``) a comparison."""
    pinned = list(run.pinned.select_related("version__dataset"))
    context: dict[str, Any] = {
        "exports": list(run.exports.select_related("created_by").order_by("-created_at")),
        "export_rows_shown": run_sizes_exact_for_user(tenant=tenant, actor=user, run=run),
        "reruns": list(run.reruns.order_by("created_at")),
        "pinned": pinned,
        "deleted_inputs": {pin.dataset_name for pin in pins_deleted(pinned)},
    }
    if compare_raw and compare_raw.isdigit() and len(compare_raw) < 12:
        try:
            original = run_get_for_user(user=user, tenant=tenant, run_id=int(compare_raw))
        except NotFound:
            original = None
        if original is not None:
            context["compare_with"] = original
    return context


def pins_deleted(pinned: list[Any]) -> list[Any]:
    """Pinned versions whose dataset or version was deleted since (the run page marks them)."""
    return [pin for pin in pinned if pin.version.deleted_at or pin.version.dataset.deleted_at]


@require_POST
@page_errors
def run_rerun_view(request: HttpRequest, run_id: int) -> HttpResponse:
    """Run the query again on exactly the versions it read (the result must be byte-identical)."""
    run = run_get_for_user(user=request.user, tenant=request_tenant(request), run_id=run_id)
    again = run_rerun(tenant=request_tenant(request), actor=request.user, run=run, request=request)
    return redirect(f"{reverse('query_run_detail', args=[again.pk])}?compare={run.pk}")


@require_POST
@page_errors
def run_rerun_latest_view(request: HttpRequest, run_id: int) -> HttpResponse:
    """Run the query on the study's latest versions and compare the counts with the original."""
    run = run_get_for_user(user=request.user, tenant=request_tenant(request), run_id=run_id)
    again = run_rerun(tenant=request_tenant(request), actor=request.user, run=run, latest=True, request=request)
    return redirect(f"{reverse('query_run_detail', args=[again.pk])}?compare={run.pk}")


@require_GET
@page_errors
def run_compare_view(request: HttpRequest, run_id: int, other_id: int) -> HttpResponse:
    """The comparison table of a rerun (``run_id``) with an earlier run (``other_id``); polled until finished."""
    rerun = run_get_for_user(user=request.user, tenant=request_tenant(request), run_id=run_id)
    original = run_get_for_user(user=request.user, tenant=request_tenant(request), run_id=other_id)
    comparison = run_compare_for_user(
        tenant=request_tenant(request), actor=request.user, original=original, rerun=rerun
    )
    return render(request, "queries/_compare.html", {"cmp": comparison})
