"""API: access requests and their decisions, study terms of use, and the caller's notifications."""

from datetime import datetime
from typing import Any, Literal

from django.db import connection
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from approvals.models import AccessRequest, DataUseAgreement, Notification
from approvals.notifications import notification_mark_read
from approvals.selectors import (
    access_request_demographics_gap,
    access_request_get_for_user,
    access_request_grants,
    access_request_list_for_user,
    dua_list_for_study,
    notification_list_for_user,
)
from approvals.services import (
    access_request_create,
    access_request_decide,
    access_request_renew,
    access_request_withdraw,
    dua_create,
)
from core.api_fields import ApiDateTime
from core.pagination import PagePagination
from datasets.selectors import study_get_for_user
from tenants.api_auth import principal
from tenants.role_checks import role_require
from tenants.roles import Role

router = Router(tags=["governance"])


class AccessRequestIn(Schema):
    study: str = Field(min_length=1, max_length=63)
    datasets: list[str] = Field(min_length=1, max_length=500)
    level: str = Field(min_length=1, max_length=16)
    purpose: str = Field(max_length=5000)
    accept_terms: bool = False
    include_demographics: bool = Field(
        False, description="Also request the study's demographics table at this level when you lack it there."
    )


class DecisionIn(Schema):
    decision: Literal["approve", "deny"]
    level: str | None = Field(None, max_length=16)
    expires_at: ApiDateTime | None = None
    reason: str = Field("", max_length=2000)
    include_demographics: bool = Field(
        False, description="Also grant the demographics table at the granted level when the requester lacks it."
    )


class RenewIn(Schema):
    purpose: str | None = Field(None, max_length=5000)
    accept_terms: bool = False


class GrantRef(Schema):
    id: int
    dataset: str | None
    level: str
    expires_at: datetime | None
    revoked_at: datetime | None


class DemographicsGapOut(Schema):
    dataset: str
    needed: str
    have: str | None
    message: str


class AccessRequestOut(Schema):
    id: int
    study: str
    datasets: list[str]
    level: str
    purpose: str
    status: str
    requester: str
    terms_version: int | None
    accepted_terms_at: datetime | None
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str
    granted_level: str | None
    expires_at: datetime | None
    renewal_of: int | None
    grants: list[GrantRef]
    demographics_gap: DemographicsGapOut | None = Field(
        None, description="Pending or approved requests that would leave the requester short on demographics."
    )

    @staticmethod
    def resolve_id(obj: AccessRequest) -> int:
        return obj.pk

    @staticmethod
    def resolve_study(obj: AccessRequest) -> str:
        return obj.study.slug

    @staticmethod
    def resolve_datasets(obj: AccessRequest) -> list[str]:
        return sorted(d.name for d in obj.datasets.all())

    @staticmethod
    def resolve_status(obj: AccessRequest) -> str:
        return obj.effective_status

    @staticmethod
    def resolve_requester(obj: AccessRequest) -> str:
        return str(getattr(obj.requester, "email", ""))

    @staticmethod
    def resolve_terms_version(obj: AccessRequest) -> int | None:
        return obj.dua.version if obj.dua else None

    @staticmethod
    def resolve_accepted_terms_at(obj: AccessRequest) -> datetime | None:
        return obj.accepted_at

    @staticmethod
    def resolve_decided_by(obj: AccessRequest) -> str | None:
        return getattr(obj.decided_by, "email", None) if obj.decided_by_id else None

    @staticmethod
    def resolve_granted_level(obj: AccessRequest) -> str | None:
        return obj.granted_level or None

    @staticmethod
    def resolve_expires_at(obj: AccessRequest) -> datetime | None:
        return obj.granted_expires_at

    @staticmethod
    def resolve_renewal_of(obj: AccessRequest) -> int | None:
        return obj.renewal_of_id

    @staticmethod
    def resolve_demographics_gap(obj: AccessRequest) -> dict[str, Any] | None:
        gap = access_request_demographics_gap(
            tenant=connection.tenant,  # type: ignore[attr-defined]
            access_request=obj,
        )
        if gap is None:
            return None
        return {"dataset": gap.dataset, "needed": gap.needed, "have": gap.have, "message": gap.text}

    @staticmethod
    def resolve_grants(obj: AccessRequest) -> list[dict[str, Any]]:
        return [
            {
                "id": g.pk,
                "dataset": g.dataset.name if g.dataset else None,
                "level": g.level,
                "expires_at": g.expires_at,
                "revoked_at": g.revoked_at,
            }
            for g in access_request_grants(access_request=obj)
        ]


def _request_out(access_request: AccessRequest) -> AccessRequest:
    """Requests are serialized by the schema's resolvers (so a paginated list resolves only its page)."""
    return access_request


@router.post("/access-requests", response={201: AccessRequestOut})
def access_request_create_endpoint(request: HttpRequest, payload: AccessRequestIn) -> Status[AccessRequest]:
    """Request a level on datasets of a study, with a purpose and acceptance of the study's terms."""
    caller = principal(request)
    study = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=payload.study)
    created = access_request_create(
        tenant=caller.tenant,
        actor=caller.user,
        study=study,
        datasets=payload.datasets,
        level=payload.level,
        purpose=payload.purpose,
        accept_terms=payload.accept_terms,
        include_demographics=payload.include_demographics,
        request=request,
    )
    return Status(201, _request_out(created))


class RequestFilters(Schema):
    status: str | None = Field(None, max_length=16)
    mine: bool = False


@router.get("/access-requests", response=list[AccessRequestOut])
@paginate(PagePagination)
def access_request_list(request: HttpRequest, filters: Query[RequestFilters]) -> Any:
    """Your requests; stewards and owners see the workspace's queue (``mine=true`` for their own only)."""
    caller = principal(request)
    queryset = access_request_list_for_user(
        user=caller.user, tenant=caller.tenant, status=filters.status, mine=filters.mine
    )
    return queryset


@router.get("/access-requests/{request_id}", response=AccessRequestOut)
def access_request_detail(request: HttpRequest, request_id: int) -> AccessRequest:
    """One request (yours, or any for stewards and owners)."""
    caller = principal(request)
    return _request_out(access_request_get_for_user(user=caller.user, tenant=caller.tenant, request_id=request_id))


@router.post("/access-requests/{request_id}/decision", response=AccessRequestOut)
def access_request_decision(request: HttpRequest, request_id: int, payload: DecisionIn) -> AccessRequest:
    """Approve (optionally at a lower level, with an expiry) or deny (with a reason) a pending request."""
    caller = principal(request)
    role_require(user=caller.user, tenant=caller.tenant, minimum=Role.STEWARD, action="decide access requests")
    found = access_request_get_for_user(user=caller.user, tenant=caller.tenant, request_id=request_id)
    decided = access_request_decide(
        tenant=caller.tenant,
        actor=caller.user,
        access_request=found,
        decision=payload.decision,
        level=payload.level,
        expires_at=payload.expires_at,
        reason=payload.reason,
        include_demographics=payload.include_demographics,
        request=request,
    )
    return _request_out(decided)


@router.post("/access-requests/{request_id}/withdraw", response=AccessRequestOut)
def access_request_withdraw_endpoint(request: HttpRequest, request_id: int) -> AccessRequest:
    """Withdraw your pending request."""
    caller = principal(request)
    found = access_request_get_for_user(user=caller.user, tenant=caller.tenant, request_id=request_id)
    return _request_out(
        access_request_withdraw(tenant=caller.tenant, actor=caller.user, access_request=found, request=request)
    )


@router.post("/access-requests/{request_id}/renew", response={201: AccessRequestOut})
def access_request_renew_endpoint(request: HttpRequest, request_id: int, payload: RenewIn) -> Status[AccessRequest]:
    """Ask to renew an approved request before it expires (same datasets and level; purpose prefilled)."""
    caller = principal(request)
    found = access_request_get_for_user(user=caller.user, tenant=caller.tenant, request_id=request_id)
    renewal = access_request_renew(
        tenant=caller.tenant,
        actor=caller.user,
        access_request=found,
        accept_terms=payload.accept_terms,
        purpose=payload.purpose,
        request=request,
    )
    return Status(201, _request_out(renewal))


class TermsIn(Schema):
    text: str = Field(max_length=100_000)


class TermsOut(Schema):
    study: str
    version: int
    text: str
    created_by: str | None
    created_at: datetime
    current: bool


def _terms_out(dua: DataUseAgreement, current: bool) -> dict[str, Any]:
    return {
        "study": dua.study.slug,
        "version": dua.version,
        "text": dua.text,
        "created_by": getattr(dua.created_by, "email", None) if dua.created_by_id else None,
        "created_at": dua.created_at,
        "current": current,
    }


@router.get("/studies/{study}/terms", response=list[TermsOut])
def terms_list(request: HttpRequest, study: str) -> list[dict[str, Any]]:
    """Every version of the study's terms of use, newest (current) first."""
    caller = principal(request)
    found = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    versions = list(dua_list_for_study(study=found))
    return [_terms_out(dua, index == 0) for index, dua in enumerate(versions)]


@router.post("/studies/{study}/terms", response={201: TermsOut})
def terms_create(request: HttpRequest, study: str, payload: TermsIn) -> Status[dict[str, Any]]:
    """Publish a new version of the study's terms (steward or owner); later requests must accept it."""
    caller = principal(request)
    found = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    dua = dua_create(tenant=caller.tenant, actor=caller.user, study=found, text=payload.text, request=request)
    return Status(201, _terms_out(dua, True))


class NotificationOut(Schema):
    id: int
    kind: str
    text: str
    link: str
    created_at: datetime
    read_at: datetime | None


def _notification_out(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "text": notification.text,
        "link": notification.link,
        "created_at": notification.created_at,
        "read_at": notification.read_at,
    }


class NotificationFilters(Schema):
    unread: bool = False


@router.get("/notifications", response=list[NotificationOut])
@paginate(PagePagination)
def notification_list(request: HttpRequest, filters: Query[NotificationFilters]) -> Any:
    """Your notifications in this workspace, newest first (``unread=true`` for unread only)."""
    caller = principal(request)
    return [_notification_out(n) for n in notification_list_for_user(user=caller.user, unread_only=filters.unread)]


class MarkedOut(Schema):
    marked: int


@router.post("/notifications/{notification_id}/read", response=MarkedOut)
def notification_read(request: HttpRequest, notification_id: int) -> dict[str, int]:
    """Mark one of your notifications as read."""
    caller = principal(request)
    return {"marked": notification_mark_read(user=caller.user, notification_id=notification_id)}


@router.post("/notifications/read-all", response=MarkedOut)
def notification_read_all(request: HttpRequest) -> dict[str, int]:
    """Mark all your notifications as read."""
    caller = principal(request)
    return {"marked": notification_mark_read(user=caller.user)}
