"""API: aggregate-only callers' count activity per study and resetting a member's count budget (stewards)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from access.activity import MemberActivity, budget_settings, count_activity_for_study
from access.budget import count_budget_reset
from core.errors import NotFound
from datasets.selectors import study_get_for_user
from tenants.api_auth import principal
from tenants.selectors import membership_get_by_email

router = Router(tags=["governance"])


class AskedSpecOut(Schema):
    at: datetime
    action: str
    spec: Any
    suppressed: bool | None
    participants: int | None


class MemberActivityOut(Schema):
    email: str
    used: int = Field(description="Distinct questions answered in the current window (the budget's unit).")
    limit: int
    remaining: int
    locked: bool = Field(description="The budget is used up: new questions are refused (429).")
    answers: int = Field(description="Answers in the current window (a question asked again counts again here).")
    questions_ever: int = Field(description="Distinct questions ever answered on the study.")
    result_sets_ever: int = Field(
        description="Kept for compatibility: the same number as questions_ever (the budget's unit was once the "
        "distinct result set)."
    )
    window_start: datetime
    reset_at: datetime | None
    first_at: datetime | None
    last_at: datetime | None
    specs: list[AskedSpecOut]


class ActivityOut(Schema):
    study: str
    limit: int
    window_hours: int
    items: list[MemberActivityOut]


class ResetIn(Schema):
    reason: str = Field("", max_length=2000)


def activity_out(item: MemberActivity) -> dict[str, Any]:
    """The API shape of one member's activity."""
    return {
        "email": item.email,
        "used": item.status.used,
        "limit": item.status.limit,
        "remaining": item.status.remaining,
        "locked": item.locked,
        "answers": item.answers,
        "questions_ever": item.questions_ever,
        "result_sets_ever": item.questions_ever,
        "window_start": item.status.window_start,
        "reset_at": item.status.reset_at,
        "first_at": item.first_at,
        "last_at": item.last_at,
        "specs": [spec.__dict__ for spec in item.specs],
    }


@router.get("/studies/{study}/count-activity", response=ActivityOut)
def count_activity(request: HttpRequest, study: str) -> dict[str, Any]:
    """Aggregate-only members' counting on the study: budget used (distinct questions), their latest specs."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    items = count_activity_for_study(actor=caller.user, tenant=caller.tenant, study=target)
    return {"study": target.slug, **budget_settings(caller.tenant), "items": [activity_out(item) for item in items]}


@router.post("/studies/{study}/count-activity/{email}/reset", response=MemberActivityOut)
def count_budget_reset_api(request: HttpRequest, study: str, email: str, payload: ResetIn) -> dict[str, Any]:
    """Restart a member's count budget on the study now (audited ``count_budget.reset``)."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    before = count_activity_for_study(actor=caller.user, tenant=caller.tenant, study=target, specs_per_member=0)
    membership = membership_get_by_email(tenant=caller.tenant, email=email)
    if membership is None or not any(item.user_id == membership.user.pk for item in before):
        raise NotFound("No such member with count activity on this study.")
    count_budget_reset(
        tenant=caller.tenant,
        actor=caller.user,
        study=target,
        user=membership.user,
        reason=payload.reason,
        request=request,
    )
    items = count_activity_for_study(actor=caller.user, tenant=caller.tenant, study=target)
    return activity_out(next(item for item in items if item.user_id == membership.user.pk))
