"""API: counts, query runs, rows, exports, reports and saved queries (docs/contract.md, "Queries")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import FileResponse, HttpRequest
from ninja import Body, Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from core.errors import NotFound
from core.pagination import MAX_PAGE, MAX_PAGE_SIZE, PagePagination
from datasets.selectors import dataset_get_any, study_get_for_user, version_get_any
from queries.exports import export_response
from queries.lineage import run_rerun as lineage_rerun
from queries.models import QueryExport, QueryRun, SavedQuery
from queries.protected_results import (
    run_export_for_user,
    run_report_for_user,
    run_row_count_for_user,
    run_rows_for_user,
    run_sizes_exact_for_user,
    spec_report_for_user,
)
from queries.run_extensions import RunExtension, run_extension_for
from queries.selectors import (
    run_get_for_user,
    saved_query_get_for_user,
    saved_query_list_for_user,
    saved_spec_for_user,
)
from queries.services import query_count, query_run_cancel, query_run_create, saved_query_delete, saved_query_save
from tenants.api_auth import principal
from tenants.role_checks import role_require
from tenants.roles import Role

router = Router(tags=["queries"])


class DropoffStartOut(Schema):
    participants: int | None


class DropoffOut(Schema):
    filter: int = Field(description="0-based position of the filter in the spec's filters.")
    remaining: int | None = Field(description="Participants passing the selections and filters 0..filter.")
    removed: int | None = Field(description="Removed by this filter in order: the previous remaining minus this one.")
    removed_alone: int | None = Field(
        description="Participants this filter removes on its own: counted without it, not with it."
    )


class CountOut(Schema):
    participants: int | None
    rows: int | None
    suppressed: bool = False
    threshold: int | None = None
    perturbed: bool = Field(False, description="Aggregate-only access: the cell-key method's perturbed count.")
    max_noise: int | None = Field(None, description="The largest noise D a perturbed count may carry.")
    dropoff_start: DropoffStartOut | None = Field(
        None, description="With ?dropoff=true: after sites, sessions and the participant list, before any filter."
    )
    dropoff: list[DropoffOut] | None = Field(
        None, description="With ?dropoff=true: per filter, in order (null numbers are suppressed cells)."
    )
    dropoff_withheld: str | None = Field(
        None,
        description="count_budget_exhausted: the drop-off's new questions did not fit the count budget; the count "
        "alone did.",
    )


class CountParams(Schema):
    dropoff: bool = Field(False, description="Also return the per-filter drop-off (computed in the same pass).")


@router.post("/studies/{study}/count", response=CountOut)
def count(request: HttpRequest, study: str, spec: Body[dict[str, Any]], params: Query[CountParams]) -> dict[str, Any]:
    """Distinct participants and distinct merge keys (participant-sessions) matching a QuerySpec; with
    ``?dropoff=true`` also each filter's drop-off."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    return query_count(
        tenant=caller.tenant,
        actor=caller.user,
        study=target,
        payload=spec,
        request=request,
        dropoff=params.dropoff,
    )


class ErrorOut(Schema):
    code: str
    message: str


class PinnedOut(Schema):
    dataset: str
    version: int
    sha256: str


class RunOut(Schema):
    id: int
    study: str
    status: str
    shape: str
    engine: str
    row_count: int | None
    columns: list[str]
    column_types: list[str]
    error: ErrorOut | None
    dataset_versions: list[PinnedOut]
    spec: dict[str, Any]
    spec_hash: str
    result_sha256: str | None
    reused_from: int | None
    rerun_of: int | None
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    kind: str = Field("study", description='"study", or "federated" for a run across studies.')
    studies: list[str] | None = Field(None, description="Federated runs: the studies, in order.")
    variables: list[dict[str, Any]] | None = Field(None, description="Federated runs: the definitions used.")
    parts: list[dict[str, Any]] | None = Field(None, description="Federated runs: each study's run and versions.")


def _run_or_extension(request: HttpRequest, run_id: int) -> tuple[QueryRun | None, RunExtension | None]:
    """The caller's run with this id, or else the feature (e.g. federated runs) whose run it is; 404 otherwise."""
    caller = principal(request)
    try:
        return run_get_for_user(user=caller.user, tenant=caller.tenant, run_id=run_id), None
    except NotFound:
        extension = run_extension_for(run_id)
        if extension is None:
            raise
        return None, extension


def run_out(run: QueryRun, *, row_count: int | None) -> dict[str, Any]:
    """The API shape of a run; ``row_count`` as the caller may see it (``run_row_count_for_user``)."""
    return {
        "id": run.pk,
        "study": run.study.slug,
        "status": run.status,
        "shape": run.shape,
        "engine": run.engine,
        "row_count": row_count,
        "columns": run.columns,
        "column_types": run.column_types,
        "error": {"code": run.error_code, "message": run.error_message} if run.error_code else None,
        "dataset_versions": [
            {"dataset": pin.dataset_name, "version": pin.number, "sha256": pin.sha256} for pin in run.pinned.all()
        ],
        "spec": run.spec,
        "spec_hash": run.spec_hash,
        "result_sha256": run.result_sha256 or None,
        "reused_from": run.reused_from_id,
        "rerun_of": run.rerun_of_id,
        "created_by": run.created_by.email if run.created_by else None,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


class RunAccepted(Schema):
    id: int
    status: str


@router.post("/studies/{study}/queries", response={202: RunAccepted})
def run_create(request: HttpRequest, study: str, spec: Body[dict[str, Any]]) -> Status[dict[str, Any]]:
    """Queue a run of a QuerySpec on the study's current versions (identical runs are joined or reused)."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    run = query_run_create(tenant=caller.tenant, actor=caller.user, study=target, payload=spec, request=request)
    return Status(202, {"id": run.pk, "status": run.status})


@router.get("/queries/{run_id}", response=RunOut)
def run_get(request: HttpRequest, run_id: int) -> dict[str, Any]:
    """A run: status, columns, pinned dataset versions, error."""
    caller = principal(request)
    run, extension = _run_or_extension(request, run_id)
    if extension is not None:
        return extension.get(request, run_id)
    assert run is not None
    return run_out(run, row_count=run_row_count_for_user(tenant=caller.tenant, actor=caller.user, run=run))


@router.post("/queries/{run_id}/cancel", response=RunOut)
def run_cancel(request: HttpRequest, run_id: int) -> dict[str, Any]:
    """Cancel a run; the answer comes once the engine has stopped (status cancelled)."""
    caller = principal(request)
    run = run_get_for_user(user=caller.user, tenant=caller.tenant, run_id=run_id)
    run = query_run_cancel(tenant=caller.tenant, actor=caller.user, run=run, request=request)
    return run_out(run, row_count=run_row_count_for_user(tenant=caller.tenant, actor=caller.user, run=run))


@router.post("/queries/{run_id}/rerun", response={202: RunAccepted})
def run_rerun(request: HttpRequest, run_id: int, latest: bool = False) -> Status[dict[str, Any]]:
    """Re-execute a run on exactly the versions it pinned (``?latest=true``: on the study's current versions)."""
    caller = principal(request)
    run = run_get_for_user(user=caller.user, tenant=caller.tenant, run_id=run_id)
    again = lineage_rerun(tenant=caller.tenant, actor=caller.user, run=run, latest=latest, request=request)
    return Status(202, {"id": again.pk, "status": again.status})


class RowsOut(Schema):
    columns: list[str]
    items: list[list[Any]]
    page: int
    page_size: int
    total: int


class RowsQuery(Schema):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(100, ge=1, le=MAX_PAGE_SIZE)
    sort: str | None = None
    order: Literal["asc", "desc"] = "asc"


@router.get("/queries/{run_id}/rows", response=RowsOut)
def run_rows(request: HttpRequest, run_id: int, params: Query[RowsQuery]) -> dict[str, Any]:
    """A page of the result rows (409 unless the run succeeded), optionally sorted by one column."""
    caller = principal(request)
    run, extension = _run_or_extension(request, run_id)
    if extension is not None:
        return extension.rows(request, run_id, params.page, params.page_size)
    assert run is not None
    return run_rows_for_user(
        tenant=caller.tenant,
        actor=caller.user,
        run=run,
        page=params.page,
        page_size=params.page_size,
        sort=params.sort,
        descending=params.order == "desc",
        request=request,
    )


@router.get("/queries/{run_id}/export", response={200: None})
def run_export_download(
    request: HttpRequest, run_id: int, format: Literal["csv", "parquet", "zip"] = "csv", purpose: str = ""
) -> FileResponse:
    """Download the result as CSV (formula-safe), Parquet or a ZIP with dictionary, report, summary, manifest."""
    caller = principal(request)
    run, extension = _run_or_extension(request, run_id)
    if extension is not None:
        return extension.export(request, run_id, format, purpose)
    assert run is not None
    export = run_export_for_user(
        tenant=caller.tenant, actor=caller.user, run=run, fmt=format, purpose=purpose, request=request
    )
    return export_response(export)


class ReportOut(Schema):
    steps: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    aggregate_only: bool = False


@router.get("/queries/{run_id}/report", response=ReportOut)
def run_report(request: HttpRequest, run_id: int) -> dict[str, Any]:
    """The filtering report (step counts on the pinned versions) and the final data summary."""
    caller = principal(request)
    run, extension = _run_or_extension(request, run_id)
    if extension is not None:
        return extension.report(request, run_id)
    assert run is not None
    return run_report_for_user(tenant=caller.tenant, actor=caller.user, run=run, request=request)


class SpecReportOut(Schema):
    steps: list[dict[str, Any]]
    aggregate_only: bool = False


@router.post("/studies/{study}/report", response=SpecReportOut)
def spec_report(request: HttpRequest, study: str, spec: Body[dict[str, Any]]) -> dict[str, Any]:
    """The filtering report of a QuerySpec without a run (count level; suppressed for aggregate-only callers)."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    return spec_report_for_user(tenant=caller.tenant, actor=caller.user, study=target, payload=spec, request=request)


class SavedIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    spec: dict[str, Any]
    shared: bool = False


class SavedOut(Schema):
    id: int
    study: str
    name: str
    description: str
    spec: dict[str, Any]
    participants_hidden: int = Field(0, description="Participant ids left out of spec (caller below query).")
    shared: bool
    owner: str
    created_at: datetime
    updated_at: datetime


def saved_out(saved: SavedQuery, caller: Any) -> dict[str, Any]:
    """The API shape of a saved query as the caller may read it (no participant ids below ``query``)."""
    spec, hidden = saved_spec_for_user(user=caller.user, tenant=caller.tenant, saved=saved)
    return {
        "id": saved.pk,
        "study": saved.study.slug,
        "name": saved.name,
        "description": saved.description,
        "spec": spec,
        "participants_hidden": hidden,
        "shared": saved.shared,
        "owner": saved.owner.email,
        "created_at": saved.created_at,
        "updated_at": saved.updated_at,
    }


@router.get("/studies/{study}/saved-queries", response=list[SavedOut])
@paginate(PagePagination)
def saved_list(request: HttpRequest, study: str) -> Any:
    """Your saved queries of this study and those shared with the workspace."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    return [
        saved_out(s, caller) for s in saved_query_list_for_user(user=caller.user, tenant=caller.tenant, study=target)
    ]


@router.post("/studies/{study}/saved-queries", response={201: SavedOut})
def saved_create(request: HttpRequest, study: str, payload: SavedIn) -> Status[dict[str, Any]]:
    """Save a query (validated against the study)."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    saved = saved_query_save(
        tenant=caller.tenant,
        actor=caller.user,
        study=target,
        name=payload.name,
        spec=payload.spec,
        description=payload.description,
        shared=payload.shared,
        request=request,
    )
    return Status(201, saved_out(saved, caller))


@router.get("/saved-queries/{saved_id}", response=SavedOut)
def saved_get(request: HttpRequest, saved_id: int) -> dict[str, Any]:
    """One saved query."""
    caller = principal(request)
    return saved_out(saved_query_get_for_user(user=caller.user, tenant=caller.tenant, saved_id=saved_id), caller)


@router.put("/saved-queries/{saved_id}", response=SavedOut)
def saved_put(request: HttpRequest, saved_id: int, payload: SavedIn) -> dict[str, Any]:
    """Replace one of your saved queries."""
    caller = principal(request)
    saved = saved_query_get_for_user(user=caller.user, tenant=caller.tenant, saved_id=saved_id)
    updated = saved_query_save(
        tenant=caller.tenant,
        actor=caller.user,
        study=saved.study,
        name=payload.name,
        spec=payload.spec,
        description=payload.description,
        shared=payload.shared,
        saved=saved,
        request=request,
    )
    return saved_out(updated, caller)


@router.delete("/saved-queries/{saved_id}", response={204: None})
def saved_delete(request: HttpRequest, saved_id: int) -> Status[None]:
    """Delete one of your saved queries."""
    caller = principal(request)
    saved = saved_query_get_for_user(user=caller.user, tenant=caller.tenant, saved_id=saved_id)
    saved_query_delete(tenant=caller.tenant, actor=caller.user, saved=saved, request=request)
    return Status(204, None)


class ExportOut(Schema):
    id: int
    format: str
    filename: str
    rows: int | None = Field(description="Rows exported; null when the caller's access is below query level now.")
    sha256: str
    purpose: str
    created_by: str | None
    created_at: datetime


def _export_out(export: QueryExport, *, rows_shown: bool = True) -> dict[str, Any]:
    return {
        "id": export.pk,
        "format": export.format,
        "filename": export.filename,
        "rows": export.rows if rows_shown else None,
        "sha256": export.sha256,
        "purpose": export.purpose,
        "created_by": export.created_by.email if export.created_by else None,
        "created_at": export.created_at,
    }


class LineageOut(Schema):
    run: RunOut
    exports: list[ExportOut]
    reruns: list[RunAccepted]


@router.get("/queries/{run_id}/lineage", response=LineageOut)
def run_lineage(request: HttpRequest, run_id: int) -> dict[str, Any]:
    """What a run read (dataset versions with sha256), what was exported from it, and its reruns."""
    caller = principal(request)
    run, extension = _run_or_extension(request, run_id)
    if extension is not None:
        return extension.lineage(request, run_id)
    assert run is not None
    return {
        "run": run_out(run, row_count=run_row_count_for_user(tenant=caller.tenant, actor=caller.user, run=run)),
        "exports": [
            _export_out(export, rows_shown=run_sizes_exact_for_user(tenant=caller.tenant, actor=caller.user, run=run))
            for export in run.exports.all()
        ],
        "reruns": [{"id": again.pk, "status": again.status} for again in run.reruns.order_by("created_at")],
    }


class UsageRunOut(Schema):
    id: int
    status: str
    created_by: str | None
    created_at: datetime
    exports: list[ExportOut]


class UsageOut(Schema):
    dataset: str
    version: int
    sha256: str
    runs: list[UsageRunOut]


@router.get("/studies/{study}/datasets/{dataset}/versions/{number}/usage", response=UsageOut)
def version_usage(request: HttpRequest, study: str, dataset: str, number: int) -> dict[str, Any]:
    """Every run that read this version and every export derived from it (stewards and owners)."""
    caller = principal(request)
    role_require(user=caller.user, tenant=caller.tenant, minimum=Role.STEWARD, action="see who used a version")
    owner = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    target = dataset_get_any(study=owner, name=dataset)  # deleted datasets keep their lineage
    version = version_get_any(dataset=target, number=number)
    runs = (
        QueryRun.objects.filter(pinned__version=version).prefetch_related("exports").order_by("-created_at").distinct()
    )
    return {
        "dataset": target.name,
        "version": version.number,
        "sha256": version.sha256,
        "runs": [
            {
                "id": run.pk,
                "status": run.status,
                "created_by": run.created_by.email if run.created_by else None,
                "created_at": run.created_at,
                "exports": [_export_out(export) for export in run.exports.all()],
            }
            for run in runs
        ],
    }
