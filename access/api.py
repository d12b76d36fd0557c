"""API: dataset grants, the access explanation, and teams (docs/contract.md, "Governance")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from access.levels import Level
from access.models import Grant, Team
from access.selectors import access_explain, grant_get, grants_for_dataset, team_get, team_list, team_member_user_ids
from access.services import (
    grant_create,
    grant_manage_require,
    grant_revoke,
    team_create,
    team_delete,
    team_member_add,
    team_member_remove,
    team_update,
)
from core.api_fields import ApiDateTime
from core.errors import InvalidInput, NotFound
from datasets.selectors import dataset_get, study_get_for_user
from tenants.api_auth import principal
from tenants.models import User
from tenants.role_checks import role_require
from tenants.roles import Role
from tenants.selectors import membership_get_by_email

router = Router(tags=["governance"])


class GrantIn(Schema):
    email: str | None = None
    team: str | None = None
    level: str
    expires_at: ApiDateTime | None = None
    identifying: bool = False
    reason: str = Field("", max_length=2000)


class GrantOut(Schema):
    id: int
    study: str
    dataset: str | None
    email: str | None
    team: str | None
    role: str | None
    level: str
    identifying: bool
    expires_at: datetime | None
    reason: str
    source: str
    granted_by: str | None
    created_at: datetime
    revoked_at: datetime | None
    status: str


def grant_out(grant: Grant) -> dict[str, Any]:
    """The API shape of a grant (status: active, expired or revoked, at the time of the call)."""
    status = "revoked" if grant.revoked_at else "active" if grant.is_live() else "expired"
    return {
        "id": grant.pk,
        "study": grant.study.slug,
        "dataset": grant.dataset.name if grant.dataset_id and grant.dataset else None,
        "email": getattr(grant.user, "email", None) if grant.user_id else None,
        "team": grant.team.slug if grant.team_id and grant.team else None,
        "role": grant.role or None,
        "level": grant.level,
        "identifying": grant.identifying,
        "expires_at": grant.expires_at,
        "reason": grant.reason,
        "source": grant.source,
        "granted_by": getattr(grant.granted_by, "email", None) if grant.granted_by_id else None,
        "created_at": grant.created_at,
        "revoked_at": grant.revoked_at,
        "status": status,
    }


def _member_by_email(request: HttpRequest, email: str) -> User:
    membership = membership_get_by_email(tenant=principal(request).tenant, email=email)
    if membership is None:
        raise NotFound("No such member.")
    return membership.user


@router.get("/studies/{study}/datasets/{dataset}/grants", response=list[GrantOut])
def grants_list(request: HttpRequest, study: str, dataset: str) -> list[dict[str, Any]]:
    """Grants on a dataset and the study-wide grants of its study (active, expired and revoked)."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    ds = dataset_get(study=target, name=dataset)
    grant_manage_require(tenant=caller.tenant, actor=caller.user, study=target, dataset=ds)
    return [grant_out(grant) for grant in grants_for_dataset(dataset=ds)]


@router.post("/studies/{study}/datasets/{dataset}/grants", response={201: GrantOut})
def grants_create(request: HttpRequest, study: str, dataset: str, payload: GrantIn) -> Status[dict[str, Any]]:
    """Grant a level on the dataset to a member (``email``) or a team (``team``), optionally until ``expires_at``."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    ds = dataset_get(study=target, name=dataset)
    grant_manage_require(tenant=caller.tenant, actor=caller.user, study=target, dataset=ds)
    if bool(payload.email) == bool(payload.team):
        raise InvalidInput('Name exactly one grantee: "email" or "team".', code="invalid_grantee")
    user = _member_by_email(request, payload.email) if payload.email else None
    team = team_get(slug=payload.team) if payload.team else None
    grant = grant_create(
        tenant=caller.tenant,
        actor=caller.user,
        study=target,
        dataset=ds,
        user=user,
        team=team,
        level=payload.level,
        identifying=payload.identifying,
        expires_at=payload.expires_at,
        reason=payload.reason,
        request=request,
    )
    return Status(201, grant_out(grant))


@router.delete("/studies/{study}/datasets/{dataset}/grants/{grant_id}", response={204: None})
def grants_delete(request: HttpRequest, study: str, dataset: str, grant_id: int) -> Status[None]:
    """Revoke a grant (it stays in the history as revoked)."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    ds = dataset_get(study=target, name=dataset)
    grant_manage_require(tenant=caller.tenant, actor=caller.user, study=target, dataset=ds)
    grant = grant_get(grant_id=grant_id, dataset=ds)
    grant_revoke(tenant=caller.tenant, actor=caller.user, grant=grant, request=request)
    return Status(204, None)


class StudyDefaultIn(Schema):
    level: str
    role: str = Role.ANALYST
    reason: str = Field("", max_length=2000)
    expires_at: ApiDateTime | None = None


@router.get("/studies/{study}/grants", response=list[GrantOut])
def study_grants_list(request: HttpRequest, study: str) -> list[dict[str, Any]]:
    """Every grant of a study (steward/owner)."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    role_require(user=caller.user, tenant=caller.tenant, minimum=Role.STEWARD, action="see every grant")
    return [grant_out(grant) for grant in Grant.objects.filter(study=target).select_related("study", "dataset", "team")]


@router.post("/studies/{study}/defaults", response={201: GrantOut})
def study_default_create(request: HttpRequest, study: str, payload: StudyDefaultIn) -> Status[dict[str, Any]]:
    """Set the study default for a role: every analyst gets ``level`` on every dataset of the study."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    grant = grant_create(
        tenant=caller.tenant,
        actor=caller.user,
        study=target,
        role=payload.role,
        level=payload.level,
        expires_at=payload.expires_at,
        reason=payload.reason,
        source="study_default",
        request=request,
    )
    return Status(201, grant_out(grant))


@router.delete("/studies/{study}/grants/{grant_id}", response={204: None})
def study_grant_delete(request: HttpRequest, study: str, grant_id: int) -> Status[None]:
    """Revoke any grant of the study (study defaults included; steward/owner)."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    role_require(user=caller.user, tenant=caller.tenant, minimum=Role.STEWARD, action="revoke grants")
    grant = grant_get(grant_id=grant_id, study=target)
    grant_revoke(tenant=caller.tenant, actor=caller.user, grant=grant, request=request)
    return Status(204, None)


class ExplainQuery(Schema):
    email: str = Field(min_length=1)
    study: str = Field(min_length=1)
    dataset: str = Field(min_length=1)


class ReasonOut(Schema):
    source: str
    level: str
    expires_at: datetime | None
    grant_id: int | None
    detail: str
    active: bool
    identifying: bool


class ExplainOut(Schema):
    email: str
    study: str
    dataset: str
    role: str | None
    level: str | None
    identifying: bool
    reasons: list[ReasonOut]


@router.get("/access/explain", response=ExplainOut)
def explain(request: HttpRequest, params: Query[ExplainQuery]) -> dict[str, Any]:
    """The effective level of a member on a dataset and every reason for it (stewards: anyone; others: themselves)."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=params.study)
    ds = dataset_get(study=target, name=params.dataset)
    if params.email.strip().lower() != caller.user.email.lower():
        role_require(user=caller.user, tenant=caller.tenant, minimum=Role.STEWARD, action="explain others' access")
    user = _member_by_email(request, params.email)
    explanation = access_explain(user=user, tenant=caller.tenant, study=target, dataset=ds)
    return {
        "email": user.email,
        "study": target.slug,
        "dataset": ds.name,
        "role": explanation.role,
        "level": explanation.level.value if explanation.level else None,
        "identifying": explanation.identifying,
        "reasons": [
            {
                "source": reason.source,
                "level": Level(reason.level).value,
                "expires_at": reason.expires_at,
                "grant_id": reason.grant_id,
                "detail": reason.detail,
                "active": reason.active,
                "identifying": reason.identifying,
            }
            for reason in explanation.reasons
        ],
    }


# --- Teams ---------------------------------------------------------------------------------------------------


class TeamIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    slug: str = Field("", max_length=63)
    description: str = Field("", max_length=5000)


class TeamPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=5000)


class TeamOut(Schema):
    slug: str
    name: str
    description: str
    members: list[str]
    created_at: datetime


class TeamMemberIn(Schema):
    email: str = Field(min_length=1)


def team_out(team: Team) -> dict[str, Any]:
    """The API shape of a team with its members' e-mail addresses."""
    ids = team_member_user_ids(team=team)
    emails = sorted(User.objects.filter(pk__in=ids).values_list("email", flat=True))
    return {
        "slug": team.slug,
        "name": team.name,
        "description": team.description,
        "members": emails,
        "created_at": team.created_at,
    }


@router.get("/teams", response=list[TeamOut])
def teams_list(request: HttpRequest) -> list[dict[str, Any]]:
    """The workspace's teams (every member may list them)."""
    caller = principal(request)
    role_require(user=caller.user, tenant=caller.tenant, minimum=Role.VIEWER)
    return [team_out(team) for team in team_list()]


@router.post("/teams", response={201: TeamOut})
def teams_create(request: HttpRequest, payload: TeamIn) -> Status[dict[str, Any]]:
    """Create a team (steward/owner)."""
    caller = principal(request)
    team = team_create(
        tenant=caller.tenant,
        actor=caller.user,
        name=payload.name,
        slug=payload.slug,
        description=payload.description,
        request=request,
    )
    return Status(201, team_out(team))


@router.get("/teams/{slug}", response=TeamOut)
def teams_get(request: HttpRequest, slug: str) -> dict[str, Any]:
    """One team."""
    caller = principal(request)
    role_require(user=caller.user, tenant=caller.tenant, minimum=Role.VIEWER)
    return team_out(team_get(slug=slug))


@router.patch("/teams/{slug}", response=TeamOut)
def teams_patch(request: HttpRequest, slug: str, payload: TeamPatch) -> dict[str, Any]:
    """Rename a team or change its description (steward/owner)."""
    caller = principal(request)
    role_require(user=caller.user, tenant=caller.tenant, minimum=Role.STEWARD, action="manage teams")
    team = team_update(
        tenant=caller.tenant,
        actor=caller.user,
        team=team_get(slug=slug),
        name=payload.name,
        description=payload.description,
        request=request,
    )
    return team_out(team)


@router.delete("/teams/{slug}", response={204: None})
def teams_delete(request: HttpRequest, slug: str) -> Status[None]:
    """Delete a team and its grants (steward/owner)."""
    caller = principal(request)
    role_require(user=caller.user, tenant=caller.tenant, minimum=Role.STEWARD, action="manage teams")
    team_delete(tenant=caller.tenant, actor=caller.user, team=team_get(slug=slug), request=request)
    return Status(204, None)


@router.post("/teams/{slug}/members", response={201: TeamOut})
def teams_member_add(request: HttpRequest, slug: str, payload: TeamMemberIn) -> Status[dict[str, Any]]:
    """Add a workspace member to a team (steward/owner)."""
    caller = principal(request)
    role_require(user=caller.user, tenant=caller.tenant, minimum=Role.STEWARD, action="manage teams")
    team = team_get(slug=slug)
    user = _member_by_email(request, payload.email)
    team_member_add(tenant=caller.tenant, actor=caller.user, team=team, user=user, request=request)
    return Status(201, team_out(team))


@router.delete("/teams/{slug}/members/{email}", response={204: None})
def teams_member_remove(request: HttpRequest, slug: str, email: str) -> Status[None]:
    """Remove a member from a team (steward/owner)."""
    caller = principal(request)
    role_require(user=caller.user, tenant=caller.tenant, minimum=Role.STEWARD, action="manage teams")
    team = team_get(slug=slug)
    user = _member_by_email(request, email)
    team_member_remove(tenant=caller.tenant, actor=caller.user, team=team, user=user, request=request)
    return Status(204, None)
