"""API: contributions of studies across workspaces (docs/contract.md §3, "Consortium sharing")."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from core.api_fields import ApiDateTime
from core.errors import Forbidden
from core.pagination import MAX_PAGE, MAX_PAGE_SIZE
from datasets.selectors import study_get_for_user
from sharing.raise_revocation import raise_revoke
from sharing.selectors import (
    contribution_get_for_user,
    contribution_list_for_user,
    contribution_side,
    raises_for,
    usage_events,
)
from sharing.services import (
    contribution_accept,
    contribution_decline,
    contribution_level_set,
    contribution_offer,
    contribution_out,
    contribution_withdraw,
    raise_decide,
    raise_request,
)
from sharing.usage import usage_item
from tenants.api_auth import principal
from tenants.role_checks import role_require
from tenants.roles import Role

router = Router(tags=["sharing"])

ShareLevel = Literal["count", "query", "export"]


class OfferIn(Schema):
    consortium: str = Field(min_length=1, max_length=40)
    datasets: list[str] | None = Field(None, max_length=500)
    level: ShareLevel
    follow: Literal["latest", "pinned"] = "latest"
    terms: str = Field("", max_length=20_000)


class LevelIn(Schema):
    level: ShareLevel


class AcceptIn(Schema):
    slug: str = Field(min_length=1, max_length=63)


class RaiseIn(Schema):
    level: ShareLevel
    purpose: str = Field(min_length=1, max_length=2000)
    accept_terms: bool = False


class RaiseDecisionIn(Schema):
    expires_at: ApiDateTime | None = Field(
        None, description="An approval's end (ISO 8601, future); none: until revoked. Ignored for a denial."
    )


class UsageQuery(Schema):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(100, ge=1, le=MAX_PAGE_SIZE)


def _raise_out(raised: Any) -> dict[str, Any]:
    return {
        "id": raised.pk,
        "user": raised.user.email,
        "level": raised.level,
        "purpose": raised.purpose,
        "status": raised.effective_status,
        "expires_at": raised.granted_expires_at.isoformat() if raised.granted_expires_at else None,
        "terms_accepted_at": raised.terms_accepted_at.isoformat() if raised.terms_accepted_at else None,
        "requested_at": raised.requested_at.isoformat(),
        "decided_at": raised.decided_at.isoformat() if raised.decided_at else None,
    }


@router.post("/studies/{study}/contributions", response={201: dict[str, Any]})
def offer(request: HttpRequest, study: str, payload: OfferIn) -> Status[dict[str, Any]]:
    """Offer a study of this lab to a consortium (owner or steward)."""
    caller = principal(request)
    role_require(user=caller.user, tenant=caller.tenant, minimum=Role.STEWARD, action="share studies")
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    made = contribution_offer(
        tenant=caller.tenant,
        actor=caller.user,
        study=target,
        consortium=payload.consortium,
        level=payload.level,
        datasets=payload.datasets,
        follow=payload.follow,
        terms=payload.terms,
        request=request,
    )
    return Status(201, contribution_out(made))


@router.get("/contributions", response=dict[str, Any])
def contributions(request: HttpRequest) -> dict[str, Any]:
    """The contributions this workspace made (a lab) or received (a consortium), every status."""
    caller = principal(request)
    items = [
        {**contribution_out(c), "side": contribution_side(c, caller.tenant)}
        for c in contribution_list_for_user(user=caller.user, tenant=caller.tenant)
    ]
    return {"items": items, "total": len(items)}


@router.get("/contributions/{contribution_id}", response=dict[str, Any])
def contribution_detail(request: HttpRequest, contribution_id: int) -> dict[str, Any]:
    caller = principal(request)
    found = contribution_get_for_user(user=caller.user, tenant=caller.tenant, contribution_id=contribution_id)
    return {**contribution_out(found), "side": contribution_side(found, caller.tenant)}


@router.patch("/contributions/{contribution_id}", response=dict[str, Any])
def contribution_patch(request: HttpRequest, contribution_id: int, payload: LevelIn) -> dict[str, Any]:
    """Change the ceiling (the lab's owner or steward); effective at the consortium's next request."""
    caller = principal(request)
    found = contribution_get_for_user(user=caller.user, tenant=caller.tenant, contribution_id=contribution_id)
    changed = contribution_level_set(
        tenant=caller.tenant, actor=caller.user, contribution=found, level=payload.level, request=request
    )
    return contribution_out(changed)


@router.delete("/contributions/{contribution_id}", response=dict[str, Any])
def contribution_delete(request: HttpRequest, contribution_id: int) -> dict[str, Any]:
    """Withdraw (the lab's owner or steward); effective at the consortium's next request."""
    caller = principal(request)
    found = contribution_get_for_user(user=caller.user, tenant=caller.tenant, contribution_id=contribution_id)
    return contribution_out(
        contribution_withdraw(tenant=caller.tenant, actor=caller.user, contribution=found, request=request)
    )


@router.post("/contributions/{contribution_id}/accept", response=dict[str, Any])
def contribution_accept_view(request: HttpRequest, contribution_id: int, payload: AcceptIn) -> dict[str, Any]:
    """Accept an offer under a local study slug (the consortium's owner or steward)."""
    caller = principal(request)
    found = contribution_get_for_user(user=caller.user, tenant=caller.tenant, contribution_id=contribution_id)
    accepted = contribution_accept(
        tenant=caller.tenant, actor=caller.user, contribution=found, slug=payload.slug, request=request
    )
    return {**contribution_out(accepted), "study": accepted.local_slug}


@router.post("/contributions/{contribution_id}/decline", response=dict[str, Any])
def contribution_decline_view(request: HttpRequest, contribution_id: int) -> dict[str, Any]:
    caller = principal(request)
    found = contribution_get_for_user(user=caller.user, tenant=caller.tenant, contribution_id=contribution_id)
    return contribution_out(
        contribution_decline(tenant=caller.tenant, actor=caller.user, contribution=found, request=request)
    )


@router.get("/contributions/{contribution_id}/usage", response=dict[str, Any])
def contribution_usage(request: HttpRequest, contribution_id: int, params: Query[UsageQuery]) -> dict[str, Any]:
    """Who used the contributed data in the consortium, how and for what (the lab's owner or steward)."""
    caller = principal(request)
    role_require(user=caller.user, tenant=caller.tenant, minimum=Role.STEWARD, action="see how shared data is used")
    found = contribution_get_for_user(user=caller.user, tenant=caller.tenant, contribution_id=contribution_id)
    if contribution_side(found, caller.tenant) != "lab":
        raise Forbidden("The usage report is the contributing lab's.", code="contributor_only")
    events = usage_events(contribution=found)
    offset = (params.page - 1) * params.page_size
    items = [usage_item(event) for event in events[offset : offset + params.page_size]]
    return {"items": items, "page": params.page, "page_size": params.page_size, "total": events.count()}


@router.post("/contributions/{contribution_id}/requests", response={201: dict[str, Any]})
def raise_create(request: HttpRequest, contribution_id: int, payload: RaiseIn) -> Status[dict[str, Any]]:
    """A consortium member asks the contributing lab for a level above the ceiling, accepting its terms."""
    caller = principal(request)
    found = contribution_get_for_user(user=caller.user, tenant=caller.tenant, contribution_id=contribution_id)
    made = raise_request(
        tenant=caller.tenant,
        actor=caller.user,
        contribution=found,
        level=payload.level,
        purpose=payload.purpose,
        accept_terms=payload.accept_terms,
        request=request,
    )
    return Status(201, _raise_out(made))


@router.get("/contributions/{contribution_id}/requests", response=dict[str, Any])
def raise_list(request: HttpRequest, contribution_id: int) -> dict[str, Any]:
    """Requests beyond the ceiling: the lab's stewards see all, a consortium member their own."""
    caller = principal(request)
    found = contribution_get_for_user(user=caller.user, tenant=caller.tenant, contribution_id=contribution_id)
    raised = raises_for(found)
    if contribution_side(found, caller.tenant) != "lab" or caller.role not in (Role.OWNER, Role.STEWARD):
        raised = raised.filter(user_id=caller.user.pk)
    items = [_raise_out(r) for r in raised]
    return {"items": items, "total": len(items)}


@router.post("/contributions/{contribution_id}/requests/{request_id}/{decision}", response=dict[str, Any])
def raise_decision(
    request: HttpRequest,
    contribution_id: int,
    request_id: int,
    decision: Literal["approve", "deny", "revoke"],
    payload: RaiseDecisionIn | None = None,
) -> dict[str, Any]:
    """The contributing lab's steward approves (for that person only) or denies a request beyond the ceiling, or
    ends (``revoke``) an approval it gave."""
    caller = principal(request)
    found = contribution_get_for_user(user=caller.user, tenant=caller.tenant, contribution_id=contribution_id)
    if decision == "revoke":
        ended = raise_revoke(
            tenant=caller.tenant, actor=caller.user, contribution=found, raise_id=request_id, request=request
        )
        return _raise_out(ended)
    decided = raise_decide(
        tenant=caller.tenant,
        actor=caller.user,
        contribution=found,
        raise_id=request_id,
        approve=decision == "approve",
        expires_at=payload.expires_at if payload is not None else None,
        request=request,
    )
    return _raise_out(decided)
