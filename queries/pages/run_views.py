"""Pages of query runs: the run page, "My runs", and the run panel's fragments (status, preview, report, export).

Everything goes through the services and readers the API uses: ``query_run_cancel``, ``result_page``,
``filtering_report`` / ``final_summary`` and ``run_export`` (whose file is streamed exactly like the API does).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApiError, Forbidden, NotFound
from queries.exports import export_response
from queries.models import QueryRun
from queries.pages.builder import draft_replace_from_spec
from queries.pages.builder_schema import study_schema
from queries.pages.lineage_views import lineage_context
from queries.pages.run_summary import panel_context, spec_summary
from queries.protected_results import (
    run_export_for_user,
    run_report_for_user,
    run_row_total_for_user,
    run_rows_for_user,
    runs_rows_shown,
)
from queries.selectors import run_get_for_user, run_list_for_user
from queries.services import query_run_cancel
from tenants.page_kit import is_fragment, page_errors, request_tenant

PAGE_SIZES = (10, 50, 100)
RUNS_PAGE_SIZE = 25


def _run(request: HttpRequest, run_id: int) -> QueryRun:
    return run_get_for_user(user=request.user, tenant=request_tenant(request), run_id=run_id)


def _int(raw: str | None, default: int) -> int:
    return int(raw) if raw and raw.isdigit() and len(raw) < 10 else default


@require_GET
@page_errors
def run_list(request: HttpRequest) -> HttpResponse:
    """The caller's runs (stewards and owners: everyone's), newest first."""
    runs = run_list_for_user(user=request.user, tenant=request_tenant(request))
    page = Paginator(runs, RUNS_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = runs_rows_shown(tenant=request_tenant(request), actor=request.user, runs=page.object_list)
    return render(request, "queries/run_list.html", {"page": page})


@require_GET
@page_errors
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """One run: its query in words, pinned dataset versions, status and timings, preview, exports, report."""
    run = _run(request, run_id)
    lineage = lineage_context(
        run, user=request.user, tenant=request_tenant(request), compare_raw=request.GET.get("compare")
    )
    return render(request, "queries/run_detail.html", _detail_context(request, run, **lineage))


def _panel(request: HttpRequest, run: QueryRun, **extra: Any) -> dict[str, Any]:
    """The run panel's context, with the row count as this caller may see it."""
    shown, perturbed = run_row_total_for_user(tenant=request_tenant(request), actor=request.user, run=run)
    return panel_context(run, shown_rows=shown, rows_perturbed=perturbed, **extra)


def _detail_context(request: HttpRequest, run: QueryRun, **extra: Any) -> dict[str, Any]:
    extra.setdefault("pinned", run.pinned.all())
    return _panel(request, run, summary=spec_summary(run.spec, run.study), **extra)


@require_POST
@page_errors
def run_edit(request: HttpRequest, run_id: int) -> HttpResponse:
    """Load the run's query into the builder of its study (replacing the user's draft)."""
    run = _run(request, run_id)
    draft_replace_from_spec(run.study, request.user, dict(run.spec), study_schema(run.study))
    messages.success(request, f"Loaded the query of run #{run.pk} into the builder.")
    return redirect("query_builder", slug=run.study.slug)


@require_GET
@page_errors
def run_panel(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run's status panel (polled every second while the run is queued or running)."""
    run = _run(request, run_id)
    return render(
        request, "queries/_run_panel.html", _panel(request, run, in_builder=request.GET.get("builder") == "1")
    )


@require_POST
@page_errors
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    """Cancel the run; answers once the engine has stopped (or after a short wait), with the panel."""
    run = _run(request, run_id)
    error = None
    try:
        run = query_run_cancel(tenant=request_tenant(request), actor=request.user, run=run, request=request)
    except Forbidden:
        raise
    except ApiError as exc:
        error = exc
        run.refresh_from_db()
    context = _panel(request, run, cancel_error=error, in_builder=request.POST.get("builder") == "1")
    return render(request, "queries/_run_panel.html", context)


@require_GET
@page_errors
def run_rows(request: HttpRequest, run_id: int) -> HttpResponse:
    """A page of the result (10/50/100 rows), sorted by one column if asked."""
    run = _run(request, run_id)
    default = run.study.display_rows or PAGE_SIZES[0]  # the study's builder default (BDT's max_display_rows)
    sizes = tuple(sorted({*PAGE_SIZES, default}))
    size = _int(request.GET.get("page_size"), default)
    size = size if size in sizes else default
    total = run.row_count or 0
    pages = max(1, -(-total // size))
    number = min(max(1, _int(request.GET.get("page"), 1)), pages)
    sort = request.GET.get("sort") or None
    order = "desc" if request.GET.get("order") == "desc" else "asc"
    data = run_rows_for_user(
        tenant=request_tenant(request),
        actor=request.user,
        run=run,
        page=number,
        page_size=size,
        sort=sort,
        descending=order == "desc",
        request=request,
    )
    context = {
        "run": run,
        "data": data,
        "page": number,
        "pages": pages,
        "page_size": size,
        "sizes": sizes,
        "sort": sort,
        "order": order,
        "first_row": (number - 1) * size + 1 if total else 0,
        "last_row": min(number * size, total),
    }
    return render(request, "queries/_preview.html", context)


@require_GET
@page_errors
def run_report(request: HttpRequest, run_id: int) -> HttpResponse:
    """The filtering report (counts step by step, on the run's pinned versions) and the final data summary."""
    run = _run(request, run_id)
    report = run_report_for_user(tenant=request_tenant(request), actor=request.user, run=run, request=request)
    context = {
        "run": run,
        "steps": report["steps"],
        "summary": report["summary"],
        "aggregate_only": report["aggregate_only"],
    }
    return render(request, "queries/_report.html", context)


@require_POST
@page_errors
def run_export_download(request: HttpRequest, run_id: int) -> HttpResponseBase:
    """Download the result as CSV, Parquet or ZIP; the purpose is required and recorded in the audit trail."""
    run = _run(request, run_id)
    fmt = request.POST.get("format", "csv")
    try:
        export = run_export_for_user(
            tenant=request_tenant(request),
            actor=request.user,
            run=run,
            fmt=fmt,
            purpose=request.POST.get("purpose", ""),
            request=request,
        )
    except (Forbidden, NotFound):
        raise
    except ApiError as exc:
        if is_fragment(request):
            raise
        context = _detail_context(
            request, run, export_error=exc, export_format=fmt, purpose=request.POST.get("purpose", "")
        )
        return render(request, "queries/run_detail.html", context, status=exc.status)
    return export_response(export)
