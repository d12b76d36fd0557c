"""What stewards see of aggregate-only callers' counting on a study: budget used, questions, the specs asked.

One row per member who was ever answered as an aggregate-only caller on the study (the count budget's ledger,
``access.models.CountResultSet``): distinct questions and answers in the current window, the budget and whether it
is exhausted, the last reset, and their latest counts and reports from the audit trail — each with its full spec —
so probing (many near-identical specs) is visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Max, Min, Sum

from access.budget import BudgetStatus, budget_policy, count_budget_status
from access.models import CountResultSet
from audit.models import AuditEvent
from datasets.models import Study
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role

ACTIVITY_ACTIONS = ("query.count", "query.report", "count_budget.exhausted", "analysis.computed")
SPECS_SHOWN = 20


@dataclass(frozen=True)
class AskedSpec:
    """One audited count-level question: when, what, and what was shown."""

    at: datetime
    action: str
    spec: Any
    suppressed: bool | None
    participants: int | None


@dataclass(frozen=True)
class MemberActivity:
    """One member's counting on a study in the current window."""

    user_id: int
    email: str
    status: BudgetStatus
    answers: int
    questions_ever: int  # ledger entries ever (distinct questions; before questions were the unit: result sets)
    first_at: datetime | None
    last_at: datetime | None
    specs: list[AskedSpec] = field(default_factory=list)

    @property
    def locked(self) -> bool:
        return self.status.exhausted


def _specs(study: Study, user_id: int, since: datetime, limit: int) -> list[AskedSpec]:
    events = AuditEvent.objects.filter(
        action__in=ACTIVITY_ACTIONS,
        actor_id=user_id,
        target_type="datasets.study",
        target_id=str(study.pk),
        at__gte=since,
    ).order_by("-id")[:limit]
    return [
        AskedSpec(
            at=event.at,
            action=event.action,
            spec=(event.details or {}).get("spec"),
            suppressed=(event.details or {}).get("suppressed"),
            participants=(event.details or {}).get("participants"),
        )
        for event in events
    ]


def count_activity_for_study(
    *, actor: Any, tenant: Tenant, study: Study, specs_per_member: int = SPECS_SHOWN
) -> list[MemberActivity]:
    """Every aggregate-only member's activity on ``study`` (stewards and owners; 403 ``role_insufficient`` else)."""
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="see count activity")
    ledger = (
        CountResultSet.objects.filter(study=study)
        .values("user_id")
        .annotate(asked=Count("id"), first=Min("first_at"), last=Max("last_at"))
        .order_by("-last")
    )
    rows = list(ledger)
    emails = dict(get_user_model().objects.filter(pk__in=[row["user_id"] for row in rows]).values_list("pk", "email"))
    out: list[MemberActivity] = []
    for row in rows:
        status = count_budget_status(tenant=tenant, study=study, user_id=row["user_id"])
        in_window = CountResultSet.objects.filter(study=study, user_id=row["user_id"], last_at__gte=status.window_start)
        out.append(
            MemberActivity(
                user_id=row["user_id"],
                email=str(emails.get(row["user_id"], row["user_id"])),
                status=status,
                answers=int(in_window.aggregate(total=Sum("answers"))["total"] or 0),
                questions_ever=int(row["asked"]),
                first_at=row["first"],
                last_at=row["last"],
                specs=_specs(study, row["user_id"], status.window_start, specs_per_member),
            )
        )
    return out


def budget_settings(tenant: Tenant | None) -> dict[str, int]:
    """The workspace's budget: distinct questions per window and the window in hours."""
    policy = budget_policy(tenant)
    return {"limit": policy.questions, "window_hours": int(policy.window.total_seconds() // 3600)}
