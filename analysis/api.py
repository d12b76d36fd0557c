"""API: statistics, plot figures, point selections and profiles of a run's result (docs/contract.md, "Analysis")."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from django.http import FileResponse, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from ninja import Body, Field, Router, Schema, Status

from analysis.access import COUNT, EXPORT, QUERY, analysis_run_get
from analysis.selectors import profile_context, profile_job_get_for_user, profile_job_out
from analysis.services import (
    analysis_compute,
    plot_build,
    profile_job_create,
    profile_report_download_record,
    selection_export,
    selection_keys_parse,
    selection_rows,
)
from core.errors import Conflict, NotFound
from queries.exports import export_response
from queries.run_extensions import run_extension_for
from tenants.api_auth import principal

router = Router(tags=["analysis"])


@router.post("/queries/{run_id}/analysis", response=dict[str, Any])
def run_analysis(request: HttpRequest, run_id: int, payload: Body[dict[str, Any]]) -> dict[str, Any]:
    """One statistic of the result: ``{"kind": "ols"|"describe"|"anova"|"ttests"|"crosstab", ...columns}``.

    Large results are sampled (fixed seed; ``sample`` says how many rows were used). Crosstabs are exact counts and
    the only kind open to aggregate-only (count) callers, with small cells suppressed.
    """
    caller = principal(request)
    try:
        access = analysis_run_get(actor=caller.user, tenant=caller.tenant, run_id=run_id, level=COUNT)
    except NotFound:
        extension = run_extension_for(run_id)  # a run of a feature above queries (a federated run)
        if extension is None or extension.analysis is None:
            raise
        return extension.analysis(request, run_id, payload)
    return analysis_compute(tenant=caller.tenant, actor=caller.user, access=access, payload=payload, request=request)


@router.post("/queries/{run_id}/plot", response=dict[str, Any])
def run_plot(request: HttpRequest, run_id: int, options: Body[dict[str, Any]]) -> dict[str, Any]:
    """A Plotly figure (``figure``) with its statistics (``stats``) and sample information (``sample``)."""
    caller = principal(request)
    access = analysis_run_get(actor=caller.user, tenant=caller.tenant, run_id=run_id, level=QUERY)
    return plot_build(tenant=caller.tenant, actor=caller.user, access=access, options=options, request=request)


class SelectionIn(Schema):
    rows: list[Any] = Field(..., description="Row keys of the selected points (their customdata).")


@router.post("/queries/{run_id}/selection", response=dict[str, Any])
def run_selection(request: HttpRequest, run_id: int, payload: SelectionIn) -> dict[str, Any]:
    """The selected rows (every column), looked up by row key."""
    caller = principal(request)
    access = analysis_run_get(actor=caller.user, tenant=caller.tenant, run_id=run_id, level=QUERY)
    keys = selection_keys_parse(payload.rows, tenant=caller.tenant)
    return selection_rows(actor=caller.user, access=access, keys=keys, request=request)


class SelectionExportIn(Schema):
    rows: list[Any]
    format: Literal["csv", "parquet"] = "csv"
    purpose: str = ""


@router.post("/queries/{run_id}/selection/export", response={200: None})
def run_selection_export(request: HttpRequest, run_id: int, payload: SelectionExportIn) -> FileResponse:
    """Download the selected rows (export level; formula-safe CSV or Parquet; audited like every export)."""
    caller = principal(request)
    access = analysis_run_get(actor=caller.user, tenant=caller.tenant, run_id=run_id, level=EXPORT)
    keys = selection_keys_parse(payload.rows, tenant=caller.tenant)
    export = selection_export(
        tenant=caller.tenant,
        actor=caller.user,
        access=access,
        keys=keys,
        fmt=payload.format,
        purpose=payload.purpose,
        request=request,
    )
    return export_response(export)


class ProfileOut(Schema):
    id: int
    run: int
    status: str
    progress: float
    message: str
    error: dict[str, str] | None
    created_at: datetime
    finished_at: datetime | None


@router.post("/queries/{run_id}/profiles", response={202: ProfileOut})
def profile_create(request: HttpRequest, run_id: int) -> Status[dict[str, Any]]:
    """Start a profile report of the result on a worker; poll ``GET /profiles/{id}``."""
    caller = principal(request)
    access = analysis_run_get(actor=caller.user, tenant=caller.tenant, run_id=run_id, level=QUERY)
    job = profile_job_create(tenant=caller.tenant, actor=caller.user, access=access, request=request)
    return Status(202, profile_job_out(job))


@router.get("/profiles/{job_id}", response=ProfileOut)
def profile_get(request: HttpRequest, job_id: int) -> dict[str, Any]:
    """A profile job: status and progress (0..1)."""
    caller = principal(request)
    return profile_job_out(profile_job_get_for_user(user=caller.user, tenant=caller.tenant, job_id=job_id))


def _finished_report(request: HttpRequest, job_id: int) -> Any:
    caller = principal(request)
    job = profile_job_get_for_user(user=caller.user, tenant=caller.tenant, job_id=job_id)
    if job.report is None:
        raise Conflict(f"The profile is not ready: it is {job.status}.", code="profile_not_ready")
    return job


@router.get("/profiles/{job_id}/report.json", response={200: None})
def profile_report_json(request: HttpRequest, job_id: int) -> HttpResponse:
    """The profile report as JSON (download)."""
    job = _finished_report(request, job_id)
    profile_report_download_record(actor=principal(request).user, request=request, job=job, fmt="json")
    response = HttpResponse(json.dumps(job.report, indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="profile_run{job.run_id}_{job.pk}.json"'
    return response


@router.get("/profiles/{job_id}/report.html", response={200: None})
def profile_report_html(request: HttpRequest, job_id: int) -> HttpResponse:
    """The profile report as a self-contained HTML file (download)."""
    job = _finished_report(request, job_id)
    profile_report_download_record(actor=principal(request).user, request=request, job=job, fmt="html")
    html = render_to_string("analysis/profile_standalone.html", profile_context(job))
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="profile_run{job.run_id}_{job.pk}.html"'
    return response
