"""API: harmonized variables, federated counts and runs (docs/contract.md §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Body, Field, Router, Schema, Status

from harmonization.counting import federated_count
from harmonization.selectors import variable_get_for_user, variable_history, variable_list_for_user
from harmonization.services import variable_delete, variable_save
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
