"""The count budget of aggregate-only callers: charge answers, refuse past the budget, show and reset it.

Only answers to callers at the ``count`` level are charged (query-level callers see rows anyway). Every answered
cell (a count, each step of a filtering report, each cell of a crosstab) is a result set identified by its cell
keys; asking again about a set answered in the window is free, a new set costs one, and an answer that would pass
``count_budget_result_sets`` in ``count_budget_window_hours`` is refused as a whole (429
``count_budget_exhausted``) until the window has passed or a steward resets the budget (audited).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from access.disclosure import BudgetDecision, BudgetPolicy, Cell, budget_decide
from access.models import CountBudgetReset, CountResultSet
from audit.services import audit_event_record
from core.config import config_get
from core.errors import ApiError
from datasets.models import Study
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role


class CountBudgetExhausted(ApiError):
    """429: the answer would take the caller past their budget of distinct result sets on this study."""

    def __init__(self, decision: BudgetDecision, policy: BudgetPolicy, study: Study) -> None:
        hours = int(policy.window.total_seconds() // 3600)
        super().__init__(
            429,
            "count_budget_exhausted",
            f"You have been answered about {decision.used_before} different sets of participants in study "
            f"{study.slug!r} in the last {hours} hours, and this would add {len(decision.new)} more: the limit is "
            f"{decision.limit}. Counts you have already seen stay available; ask a data steward to reset your "
            "budget, or wait for the window to pass.",
            details={
                "study": study.slug,
                "limit": decision.limit,
                "used": decision.used_before,
                "asked_new": len(decision.new),
                "window_hours": hours,
            },
        )


def budget_policy(tenant: Tenant | None) -> BudgetPolicy:
    """The workspace's budget (``count_budget_result_sets`` per ``count_budget_window_hours``)."""
    return BudgetPolicy(
        result_sets=int(config_get("count_budget_result_sets", tenant)),
        window=timedelta(hours=int(config_get("count_budget_window_hours", tenant))),
    )


def _last_reset(study: Study, user_id: int) -> datetime | None:
    return (
        CountBudgetReset.objects.filter(study=study, user_id=user_id)
        .order_by("-reset_at")
        .values_list("reset_at", flat=True)
        .first()
    )


@dataclass(frozen=True)
class BudgetStatus:
    """One member's budget on one study, now."""

    used: int
    limit: int
    window_start: datetime
    reset_at: datetime | None

    @property
    def exhausted(self) -> bool:
        return self.used >= self.limit

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


def count_budget_status(*, tenant: Tenant | None, study: Study, user_id: int) -> BudgetStatus:
    """How much of their budget on ``study`` the member has used in the current window."""
    policy = budget_policy(tenant)
    reset_at = _last_reset(study, user_id)
    start = policy.window_start(timezone.now(), reset_at)
    used = CountResultSet.objects.filter(study=study, user_id=user_id, last_at__gte=start).count()
    return BudgetStatus(used=used, limit=policy.result_sets, window_start=start, reset_at=reset_at)


def count_budget_charge(
    *,
    tenant: Tenant | None,
    actor: Any,
    study: Study,
    cells: Iterable[Cell],
    surface: str,
    spec_hash: str = "",
    spec: Any = None,
    request: HttpRequest | None = None,
) -> BudgetDecision:
    """Record the result sets of an answer to an aggregate-only caller, or refuse it (429) past the budget."""
    policy = budget_policy(tenant)
    asked = {cell.result_set for cell in cells}
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:  # one charge at a time per member and study: no race past the limit
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"count-budget:{study.pk}:{actor.pk}"])
        start = policy.window_start(now, _last_reset(study, actor.pk))
        mine = CountResultSet.objects.filter(study=study, user_id=actor.pk)
        used = mine.filter(last_at__gte=start).count()
        existing = {
            (row.participants_key, row.rows_key): row
            for row in mine.filter(participants_key__in={key for key, _ in asked})
            if (row.participants_key, row.rows_key) in asked
        }
        answered = {pair for pair, row in existing.items() if row.last_at >= start}
        decision = budget_decide(used=used, answered=answered, asked=asked, policy=policy)
        if decision.allowed:
            mine.filter(pk__in=[row.pk for row in existing.values()]).update(
                last_at=now, answers=F("answers") + 1, last_surface=surface, last_spec_hash=spec_hash
            )
            CountResultSet.objects.bulk_create(
                CountResultSet(
                    study=study,
                    user_id=actor.pk,
                    participants_key=participants_key,
                    rows_key=rows_key,
                    first_at=now,
                    last_at=now,
                    last_surface=surface,
                    last_spec_hash=spec_hash,
                )
                for participants_key, rows_key in sorted(asked - set(existing))
            )
    if not decision.allowed:
        audit_event_record(
            action="count_budget.exhausted",
            actor=actor,
            request=request,
            target=study,
            details={
                "surface": surface,
                "spec_hash": spec_hash,
                "spec": spec,
                "limit": decision.limit,
                "used": decision.used_before,
                "asked_new": len(decision.new),
            },
        )
        raise CountBudgetExhausted(decision, policy, study)
    return decision


def count_budget_reset(
    *, tenant: Tenant, actor: Any, study: Study, user: Any, reason: str = "", request: HttpRequest | None = None
) -> CountBudgetReset:
    """Restart ``user``'s budget window on ``study`` now (stewards and owners; audited ``count_budget.reset``)."""
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="reset count budgets")
    before = count_budget_status(tenant=tenant, study=study, user_id=user.pk)
    with transaction.atomic():
        reset = CountBudgetReset.objects.create(study=study, user=user, reset_by=actor, reason=reason[:2000])
        audit_event_record(
            action="count_budget.reset",
            actor=actor,
            request=request,
            target=study,
            details={"user": user.email, "used_before": before.used, "limit": before.limit, "reason": reset.reason},
        )
    return reset
