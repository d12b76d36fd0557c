"""The query budget of aggregate-only callers: distinct result sets per user, study and window.

Cell keys identify the set of participants (and rows) an answer counted, so "how much has this person learned"
becomes cheap to measure: the number of **distinct result sets** they were answered about in the window. Asking
again about a set already answered costs nothing (the answer is the same number anyway); every new set costs one.
When an answer would take a caller past the budget, it is refused and the caller is locked out of new result sets
for that study until the window has passed or a steward resets the budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

ResultSet = tuple[int, int]  # (participants key, rows key)


@dataclass(frozen=True)
class BudgetPolicy:
    """At most ``result_sets`` distinct result sets per ``window``."""

    result_sets: int
    window: timedelta

    def window_start(self, now: datetime, reset_at: datetime | None = None) -> datetime:
        """Where the current window starts: ``window`` ago, or at the last reset when that is later."""
        start = now - self.window
        return max(start, reset_at) if reset_at is not None else start


@dataclass(frozen=True)
class BudgetDecision:
    """Whether an answer may be given, and what it costs."""

    allowed: bool
    new: frozenset[ResultSet]
    used_before: int
    limit: int

    @property
    def used_after(self) -> int:
        return self.used_before + (len(self.new) if self.allowed else 0)


def budget_decide(
    *, used: int, answered: Set[ResultSet], asked: Iterable[ResultSet], policy: BudgetPolicy
) -> BudgetDecision:
    """``used``: distinct result sets already answered in the window; ``answered``: which of the ``asked`` sets are
    among them (they cost nothing again). The answer is allowed when its new sets fit in the budget."""
    new = frozenset(asked) - frozenset(answered)
    return BudgetDecision(
        allowed=used + len(new) <= policy.result_sets, new=new, used_before=used, limit=policy.result_sets
    )
