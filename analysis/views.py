"""Pages: the plots page of a run, and profile reports (list, progress, report, downloads).

The plots page draws with Plotly (served from our static files) and talks to the analysis API with the browser
session (``/api/v1/queries/{id}/plot`` and ``/selection``); the selection export is a form post to this module.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from analysis.access import EXPORT, QUERY, analysis_run_get
from analysis.selectors import profile_context, profile_job_get_for_user, profile_jobs_of_run
from analysis.services import (
    profile_job_create,
    profile_report_download_record,
    selection_export,
    selection_keys_parse,
)
from analysis.stats.numbers import NUMERIC_TYPES
from core.config import config_get
from core.errors import Conflict, InvalidInput
from queries.exports import export_response
from tenants.page_kit import page_errors, request_tenant

PLOT_KINDS = (
    ("scatter", "Scatter"),
    ("histogram", "Histogram"),
    ("box", "Box"),
    ("violin", "Violin"),
    ("heatmap", "Density heatmap"),
)
STAT_KINDS = (
    ("describe", "Describe a column"),
    ("ols", "Linear regression (OLS)"),
    ("anova", "One-way ANOVA"),
    ("ttests", "Pairwise t-tests"),
    ("crosstab", "Crosstab (chi-square)"),
)


@require_GET
@page_errors
def plots_page(request: HttpRequest, run_id: int) -> HttpResponse:
    """The plots page of a succeeded run: plot type, column slots, options; statistics beside the figure."""
    tenant = request_tenant(request)
    access = analysis_run_get(actor=request.user, tenant=tenant, run_id=run_id, level=QUERY)
    run = access.run
    if run.status != "succeeded":
        raise Conflict(f"The run has no result: it is {run.status}.", code="run_not_succeeded")
    keys = {run.study.id_column, run.study.session_column} - {""}
    columns = [{"name": n, "type": t} for n, t in zip(run.columns, run.column_types, strict=False)]
    numeric = [c["name"] for c in columns if c["type"] in NUMERIC_TYPES]
    # Groups come from text, yes/no and whole-number columns; a continuous measure would make one group per value.
    categorical = [
        c["name"]
        for c in columns
        if c["name"] not in keys and (c["type"] not in NUMERIC_TYPES or c["type"] == "integer")
    ]
    return render(
        request,
        "analysis/plots.html",
        {
            "run": run,
            "kinds": PLOT_KINDS,
            "stat_kinds": STAT_KINDS,
            "numeric": numeric,
            "categorical": categorical,
            "every": [c["name"] for c in columns],
            "config_json": json.dumps(
                {
                    "run": run.pk,
                    "api": f"/api/v1/queries/{run.pk}",
                    "numeric": numeric,
                    "categorical": categorical,
                }
            ),
            "sample_rows": int(config_get("analysis_sample_rows", tenant)),
        },
    )


def _posted_keys(request: HttpRequest) -> list[int]:
    raw = request.POST.get("rows", "")
    try:
        parsed = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise InvalidInput("Selected rows are identified by their row numbers.", code="invalid_selection") from None
    return selection_keys_parse(parsed, tenant=request_tenant(request))


@require_POST
@page_errors
def selection_export_view(request: HttpRequest, run_id: int) -> HttpResponseBase:
    """Download the selected points' rows (export level; the run export path with a row-key filter)."""
    access = analysis_run_get(actor=request.user, tenant=request_tenant(request), run_id=run_id, level=EXPORT)
    export = selection_export(
        tenant=request_tenant(request),
        actor=request.user,
        access=access,
        keys=_posted_keys(request),
        fmt=request.POST.get("format", "csv"),
        purpose=request.POST.get("purpose", ""),
        request=request,
    )
    return export_response(export)


@require_GET
@page_errors
def profile_list(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run's profile reports and a button to build a new one."""
    access = analysis_run_get(actor=request.user, tenant=request_tenant(request), run_id=run_id, level=QUERY)
    return render(
        request, "analysis/profile_list.html", {"run": access.run, "jobs": profile_jobs_of_run(access.run)[:20]}
    )


@require_POST
@page_errors
def profile_start(request: HttpRequest, run_id: int) -> HttpResponseBase:
    """Queue a profile report and show its progress."""
    tenant = request_tenant(request)
    access = analysis_run_get(actor=request.user, tenant=tenant, run_id=run_id, level=QUERY)
    job = profile_job_create(tenant=tenant, actor=request.user, access=access, request=request)
    return redirect("analysis_profile_detail", job_id=job.pk)


@require_GET
@page_errors
def profile_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """A profile report: its progress bar while the worker builds it, then the report."""
    job = profile_job_get_for_user(user=request.user, tenant=request_tenant(request), job_id=job_id)
    return render(request, "analysis/profile_detail.html", profile_context(job))


@require_GET
@page_errors
def profile_panel(request: HttpRequest, job_id: int) -> HttpResponse:
    """The progress / report fragment (polled while the job runs)."""
    job = profile_job_get_for_user(user=request.user, tenant=request_tenant(request), job_id=job_id)
    return render(request, "analysis/_profile_panel.html", profile_context(job))


@require_GET
@page_errors
def profile_download(request: HttpRequest, job_id: int, fmt: str) -> HttpResponse:
    """The finished report as a self-contained HTML file or as JSON."""
    job = profile_job_get_for_user(user=request.user, tenant=request_tenant(request), job_id=job_id)
    if job.report is None:
        raise Conflict(f"The profile is not ready: it is {job.status}.", code="profile_not_ready")
    profile_report_download_record(actor=request.user, request=request, job=job, fmt=fmt)
    name = f"profile_run{job.run_id}_{job.pk}.{fmt}"
    if fmt == "json":
        response = HttpResponse(json.dumps(job.report, indent=2), content_type="application/json")
    else:
        html = render_to_string("analysis/profile_standalone.html", profile_context(job))
        response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
