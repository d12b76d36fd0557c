"""Federated runs at the ordinary run endpoints (``queries/{id}``, ``rows``, ``report``, ``export``, ``lineage``),
registered with ``queries.run_extensions`` when the app is ready. Every call authorizes as the federated endpoints
do (the caller's own run, or a steward's; the level on every study's part at the moment of use)."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpRequest

from harmonization.models import FederatedRun
from harmonization.results import (
    federated_analysis_for_user,
    federated_export_for_user,
    federated_manifest,
    federated_report_for_user,
    federated_row_count_for_user,
    federated_rows_for_user,
)
from harmonization.runs import federated_run_get_for_user
from queries.exports import export_response
from queries.run_extensions import RunExtension
from tenants.api_auth import principal


def _owns(run_id: int) -> bool:
    return FederatedRun.objects.filter(pk=run_id).exists()


def federated_run_out(run: FederatedRun, *, row_count: int | None) -> dict[str, Any]:
    """A federated run in the shape of a run (``queries/{id}``), with its studies, definitions and parts."""
    manifest = federated_manifest(run)
    parts = [
        {key: part[key] for key in ("study", "run", "missing_variables", "dataset_versions")}
        for part in manifest["studies"]
    ]
    return {
        "id": run.pk,
        "kind": "federated",
        "study": ",".join(run.spec.get("studies", [])),
        "studies": list(run.spec.get("studies", [])),
        "status": run.status,
        "shape": "long",
        "engine": "federated",
        "row_count": row_count,
        "columns": run.columns,
        "column_types": [],
        "error": {"code": run.error_code, "message": run.error_message} if run.error_code else None,
        "dataset_versions": [
            {"dataset": f"{part['study']}/{pin['dataset']}", "version": pin["version"], "sha256": pin["sha256"]}
            for part in parts
            for pin in part["dataset_versions"]
        ],
        "spec": run.spec,
        "spec_hash": "",
        "result_sha256": run.result_sha256 or None,
        "reused_from": None,
        "rerun_of": None,
        "variables": run.variables,
        "parts": parts,
        "created_by": run.created_by.email if run.created_by else None,
        "created_at": run.created_at,
        "started_at": None,
        "finished_at": run.finished_at,
    }


def _run(request: HttpRequest, run_id: int) -> tuple[Any, FederatedRun]:
    caller = principal(request)
    return caller, federated_run_get_for_user(user=caller.user, tenant=caller.tenant, run_id=run_id)


def federated_get(request: HttpRequest, run_id: int) -> dict[str, Any]:
    caller, run = _run(request, run_id)
    return federated_run_out(
        run, row_count=federated_row_count_for_user(tenant=caller.tenant, actor=caller.user, run=run)
    )


def _rows(request: HttpRequest, run_id: int, page: int, page_size: int) -> dict[str, Any]:
    caller, run = _run(request, run_id)
    return federated_rows_for_user(
        tenant=caller.tenant, actor=caller.user, run=run, page=page, page_size=page_size, request=request
    )


def _report(request: HttpRequest, run_id: int) -> dict[str, Any]:
    caller, run = _run(request, run_id)
    return federated_report_for_user(tenant=caller.tenant, actor=caller.user, run=run, request=request)


def _export(request: HttpRequest, run_id: int, fmt: str, purpose: str) -> FileResponse:
    caller, run = _run(request, run_id)
    export = federated_export_for_user(
        tenant=caller.tenant, actor=caller.user, run=run, fmt=fmt, purpose=purpose, request=request
    )
    return export_response(export)


def federated_lineage(request: HttpRequest, run_id: int) -> dict[str, Any]:
    caller, run = _run(request, run_id)
    row_count = federated_row_count_for_user(tenant=caller.tenant, actor=caller.user, run=run)
    return {"run": federated_run_out(run, row_count=row_count), "exports": [], "reruns": [], **federated_manifest(run)}


def federated_analysis(request: HttpRequest, run_id: int, payload: Any) -> dict[str, Any]:
    caller, run = _run(request, run_id)
    return federated_analysis_for_user(
        tenant=caller.tenant, actor=caller.user, run=run, payload=payload, request=request
    )


FEDERATED_RUNS = RunExtension(
    owns=_owns,
    get=federated_get,
    rows=_rows,
    report=_report,
    export=_export,
    lineage=federated_lineage,
    analysis=federated_analysis,
)
