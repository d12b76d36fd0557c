"""API: harmonized variables, federated counts and runs (docs/contract.md §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import FileResponse, HttpRequest
from ninja import Body, Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from core.pagination import MAX_PAGE, MAX_PAGE_SIZE, PagePagination
from harmonization.counting import federated_count
from harmonization.results import (
    federated_export_for_user,
    federated_report_for_user,
    federated_row_count_for_user,
    federated_rows_for_user,
)
from harmonization.run_extension import federated_analysis, federated_lineage, federated_run_out
from harmonization.runs import federated_run_create, federated_run_get_for_user
from harmonization.selectors import (
    inquiry_list_for_user,
    variable_get_for_user,
    variable_history,
    variable_list_for_user,
)
from harmonization.services import variable_delete, variable_save
from queries.exports import export_response
from tenants.api_auth import principal

router = Router(tags=["harmonization"])


class SourceOut(Schema):
    study: str
    dataset: str
    column: str
    scale: float | None = None
    offset: float | None = None
    recode: dict[str, str] | None = None


class VariableOut(Schema):
    name: str
    type: str
    label: str
    unit: str
    sources: list[SourceOut]
    revision: int = Field(description="Increases with every change; counts and runs pin it.")


class RevisionOut(Schema):
    revision: int
    at: datetime
    by: str | None
    change: str
    definition: dict[str, Any]


@router.get("/variables", response=list[VariableOut])
def variables_list(request: HttpRequest) -> list[dict[str, Any]]:
    """The workspace's harmonized variables."""
    caller = principal(request)
    return [v.definition() for v in variable_list_for_user(user=caller.user, tenant=caller.tenant)]


@router.post("/variables", response={201: VariableOut})
def variables_create(request: HttpRequest, payload: Body[dict[str, Any]]) -> Status[dict[str, Any]]:
    """Define a variable (owners and stewards); 422 naming what is wrong with a source."""
    caller = principal(request)
    saved = variable_save(tenant=caller.tenant, actor=caller.user, payload=payload, request=request)
    return Status(201, saved.definition())


@router.get("/variables/{name}", response=VariableOut)
def variables_get(request: HttpRequest, name: str) -> dict[str, Any]:
    """One variable."""
    caller = principal(request)
    return variable_get_for_user(user=caller.user, tenant=caller.tenant, name=name).definition()


@router.put("/variables/{name}", response=VariableOut)
def variables_put(request: HttpRequest, name: str, payload: Body[dict[str, Any]]) -> dict[str, Any]:
    """Replace a variable's definition (a new revision)."""
    caller = principal(request)
    existing = variable_get_for_user(user=caller.user, tenant=caller.tenant, name=name)
    saved = variable_save(tenant=caller.tenant, actor=caller.user, payload=payload, existing=existing, request=request)
    return saved.definition()


@router.delete("/variables/{name}", response={204: None})
def variables_delete(request: HttpRequest, name: str) -> Status[None]:
    """Delete a variable (its revisions stay in the history)."""
    caller = principal(request)
    existing = variable_get_for_user(user=caller.user, tenant=caller.tenant, name=name)
    variable_delete(tenant=caller.tenant, actor=caller.user, variable=existing, request=request)
    return Status(204, None)


@router.get("/variables/{name}/history", response=list[RevisionOut])
def variables_history(request: HttpRequest, name: str) -> list[dict[str, Any]]:
    """Every revision of a variable, newest first."""
    caller = principal(request)
    return variable_history(variable_get_for_user(user=caller.user, tenant=caller.tenant, name=name))


class StudyCountOut(Schema):
    study: str
    participants: int | None
    rows: int | None
    suppressed: bool
    missing_variables: list[str]


class PinnedVariableOut(Schema):
    name: str
    revision: int


class FederatedCountOut(Schema):
    participants: int | None
    rows: int | None
    suppressed: bool
    by_study: list[StudyCountOut]
    variables: list[PinnedVariableOut] = Field(default_factory=list, description="Definitions used (revisions).")
    threshold: int | None = None
    perturbed: bool = False
    max_noise: int | None = None


@router.post("/federated/count", response=FederatedCountOut)
def federated_count_post(request: HttpRequest, payload: Body[dict[str, Any]]) -> dict[str, Any]:
    """Participants matching filters on variables across studies: per study a study count, the total their sum."""
    caller = principal(request)
    return federated_count(tenant=caller.tenant, actor=caller.user, payload=payload, request=request)


class RunAccepted(Schema):
    id: int
    status: str


class FederatedRunOut(Schema):
    id: int
    status: str
    studies: list[str]
    shape: str
    row_count: int | None
    columns: list[str]
    error: dict[str, str] | None
    spec: dict[str, Any]
    variables: list[dict[str, Any]] = Field(description="The variable definitions the run used (pinned revisions).")
    parts: list[dict[str, Any]] = Field(description="Per study: its run, pinned dataset versions, missing variables.")
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None


@router.post("/federated/queries", response={202: RunAccepted})
def federated_run_post(request: HttpRequest, payload: Body[dict[str, Any]]) -> Status[dict[str, Any]]:
    """Queue a run across studies: one run per study (query level on each), stacked in harmonized units."""
    caller = principal(request)
    run = federated_run_create(tenant=caller.tenant, actor=caller.user, payload=payload, request=request)
    return Status(202, {"id": run.pk, "status": run.status})


@router.get("/federated/queries/{run_id}", response=FederatedRunOut)
def federated_run_get(request: HttpRequest, run_id: int) -> dict[str, Any]:
    """A federated run: status, columns, every study's pinned versions, the variable definitions used."""
    caller = principal(request)
    run = federated_run_get_for_user(user=caller.user, tenant=caller.tenant, run_id=run_id)
    return federated_run_out(
        run, row_count=federated_row_count_for_user(tenant=caller.tenant, actor=caller.user, run=run)
    )


class RowsOut(Schema):
    columns: list[str]
    items: list[list[Any]]
    page: int
    page_size: int
    total: int


class RowsQuery(Schema):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(100, ge=1, le=MAX_PAGE_SIZE)


@router.get("/federated/queries/{run_id}/rows", response=RowsOut)
def federated_run_rows(request: HttpRequest, run_id: int, params: Query[RowsQuery]) -> dict[str, Any]:
    """A page of the stacked rows (409 unless the run succeeded)."""
    caller = principal(request)
    run = federated_run_get_for_user(user=caller.user, tenant=caller.tenant, run_id=run_id)
    return federated_rows_for_user(
        tenant=caller.tenant, actor=caller.user, run=run, page=params.page, page_size=params.page_size, request=request
    )


@router.get("/federated/queries/{run_id}/report")
def federated_run_report(request: HttpRequest, run_id: int) -> dict[str, Any]:
    """Every study's filtering report and final summary (protected for aggregate-only callers)."""
    caller = principal(request)
    run = federated_run_get_for_user(user=caller.user, tenant=caller.tenant, run_id=run_id)
    return federated_report_for_user(tenant=caller.tenant, actor=caller.user, run=run, request=request)


@router.get("/federated/queries/{run_id}/export", response={200: None})
def federated_run_export(
    request: HttpRequest, run_id: int, format: Literal["csv", "parquet", "zip"] = "csv", purpose: str = ""
) -> FileResponse:
    """Download the stacked result: CSV, Parquet, or a ZIP with a manifest of every study's versions and every
    variable definition."""
    caller = principal(request)
    run = federated_run_get_for_user(user=caller.user, tenant=caller.tenant, run_id=run_id)
    export = federated_export_for_user(
        tenant=caller.tenant, actor=caller.user, run=run, fmt=format, purpose=purpose, request=request
    )
    return export_response(export)


@router.post("/federated/queries/{run_id}/analysis", response=dict[str, Any])
def federated_run_analysis(request: HttpRequest, run_id: int, payload: Body[dict[str, Any]]) -> dict[str, Any]:
    """One statistic of the stacked result (query level on every study): the shapes of a run's analysis."""
    return federated_analysis(request, run_id, payload)


@router.get("/federated/queries/{run_id}/lineage")
def federated_run_lineage(request: HttpRequest, run_id: int) -> dict[str, Any]:
    """What the run read: per study its run and pinned dataset versions, and the variable definitions used."""
    return federated_lineage(request, run_id)


class InquiryOut(Schema):
    id: int
    study: str
    email: str
    purpose: str
    created_at: datetime


@router.get("/discovery/requests", response=list[InquiryOut])
@paginate(PagePagination)
def discovery_requests(request: HttpRequest) -> list[dict[str, Any]]:
    """Requests left by visitors of the public catalog (owners and stewards): invite them to file an access
    request."""
    caller = principal(request)
    return [
        {"id": i.pk, "study": i.study.slug, "email": i.email, "purpose": i.purpose, "created_at": i.created_at}
        for i in inquiry_list_for_user(user=caller.user, tenant=caller.tenant)
    ]
