"""The count budget of aggregate-only callers: charge answers, refuse past the budget, show and reset it.

Only answers to callers at the ``count`` level are charged (query-level callers see rows anyway). The unit is the
distinct **question** (``access.disclosure.budget``): every number of an answer — a count, each drop-off cell, each
step of a filtering report, each row of a run's summary, a crosstab as a whole, a federated study's cell — is
identified by the request alone (surface, the spec hash with the content hashes of the dataset versions it reads,
and the number's position), never by the participants it counted. Asking the identical question again in the
window is free, a new question costs one, and an answer that would pass ``count_budget_result_sets`` questions in
``count_budget_window_hours`` is refused as a whole (429 ``count_budget_exhausted``) until the window has passed or
a steward resets the budget (audited). So whether a request is answered, refused or charged — and every number of
a refusal — follows from the caller's questions, and tells them nothing about the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from access.disclosure import BudgetDecision, BudgetPolicy, Question, budget_decide, questions_of
from access.models import CountBudgetReset, CountResultSet
from audit.services import audit_event_record
from core.config import config_get
from core.errors import ApiError
from datasets.models import Study
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role

COUNT = "count"  # a count's position (and the last "remaining" of its drop-off: the same number by construction)


class CountBudgetExhausted(ApiError):
    """429: the answer would take the caller past their budget of distinct questions on this study.

    Every number of the message and ``details`` follows from the caller's questions alone (never from answers)."""

    def __init__(self, decision: BudgetDecision, policy: BudgetPolicy, study: Study) -> None:
        hours = int(policy.window.total_seconds() // 3600)
        super().__init__(
            429,
            "count_budget_exhausted",
            f"You have asked {decision.used_before} different questions about study {study.slug!r} in the last "
            f"{hours} hours, and this request asks {len(decision.new)} new ones: the limit is {decision.limit}. "
            "Questions you have already asked, on the same data, are still answered; ask a data steward to reset "
            "your budget, or wait for the window to pass.",
            details={
                "study": study.slug,
                "limit": decision.limit,
                "used": decision.used_before,
                "asked_new": len(decision.new),
                "window_hours": hours,
            },
        )


def budget_policy(tenant: Tenant | None) -> BudgetPolicy:
    """The workspace's budget (``count_budget_result_sets`` questions per ``count_budget_window_hours``)."""
    return BudgetPolicy(
        questions=int(config_get("count_budget_result_sets", tenant)),
        window=timedelta(hours=int(config_get("count_budget_window_hours", tenant))),
    )


def count_questions(subject: str, *, dropoff_filters: int | None = None) -> list[Question]:
    """A count's questions: the count; with its drop-off over ``dropoff_filters`` filters (the spec's, from the
    request) also the start, each filter's remaining (the last is the count itself) and each one's removed alone."""
    positions = [COUNT]
    if dropoff_filters is not None:
        positions += ["dropoff:start", *(f"dropoff:{i}:remaining" for i in range(dropoff_filters - 1))]
        positions += [f"dropoff:{i}:removed_alone" for i in range(dropoff_filters)]
    return questions_of(COUNT, subject, positions)


def report_questions(surface: str, subject: str, *, steps: int, summary: Sequence[str] = ()) -> list[Question]:
    """A filtering report's questions: each of its ``steps`` (as many as the spec has steps) and each row of a run's
    final summary (``summary``: their names, from the run's columns)."""
    positions = [f"step:{i}" for i in range(steps)] + [f"summary:{name}" for name in summary]
    return questions_of(surface, subject, positions)


def crosstab_questions(subject: str, row: str, column: str) -> list[Question]:
    """A crosstab of ``row`` x ``column``: one question whatever the table's size (how many cells it has depends on
    the data, so the cells cannot be what is charged)."""
    return questions_of("crosstab", subject, [f"crosstab:{row}\x1f{column}"])


def _last_reset(study: Study, user_id: int) -> datetime | None:
    return (
        CountBudgetReset.objects.filter(study=study, user_id=user_id)
        .order_by("-reset_at")
        .values_list("reset_at", flat=True)
        .first()
    )


@dataclass(frozen=True)
class BudgetStatus:
    """One member's budget on one study, now (``used``: distinct questions answered in the window)."""

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
    return BudgetStatus(used=used, limit=policy.questions, window_start=start, reset_at=reset_at)


def count_budget_charge(
    *,
    tenant: Tenant | None,
    actor: Any,
    study: Study,
    questions: Sequence[Question],
    surface: str,
    spec_hash: str = "",
    spec: Any = None,
    request: HttpRequest | None = None,
) -> BudgetDecision:
    """Record the questions of an answer to an aggregate-only caller, or refuse it (429) past the budget.

    Call it with the questions of the request (``count_questions``, ``report_questions``, ...), never with anything
    computed from the answer: the decision must not depend on the data."""
    policy = budget_policy(tenant)
    asked = {question.identity for question in questions}
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:  # one charge at a time per member and study: no race past the limit
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"count-budget:{study.pk}:{actor.pk}"])
        start = policy.window_start(now, _last_reset(study, actor.pk))
        mine = CountResultSet.objects.filter(study=study, user_id=actor.pk)
        used = mine.filter(last_at__gte=start).count()
        existing = {row.question: row for row in mine.filter(question__in=asked)}
        answered = {question for question, row in existing.items() if row.last_at >= start}
        decision = budget_decide(used=used, answered=answered, asked=asked, policy=policy)
        if decision.allowed:
            mine.filter(pk__in=[row.pk for row in existing.values()]).update(
                last_at=now, answers=F("answers") + 1, last_surface=surface, last_spec_hash=spec_hash
            )
            CountResultSet.objects.bulk_create(
                CountResultSet(
                    study=study,
                    user_id=actor.pk,
                    question=question,
                    first_at=now,
                    last_at=now,
                    last_surface=surface,
                    last_spec_hash=spec_hash,
                )
                for question in sorted(asked - set(existing))
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
