"""The query budget of aggregate-only callers: distinct questions per user, study and window.

What a caller is charged for must depend only on what they **asked**, never on the answer: a budget that counted
distinct *result sets* (the sets of participants answers counted) refused or answered a request depending on the
data (a spec selecting nobody, or the same people as an earlier one, was free), and a refusal therefore told an
exhausted caller whether a spec selected anyone new. So every number of an answer is a :class:`Question`, identified
by the request alone: the surface, the subject (the spec's hash with the content hashes of the dataset versions it
reads; a new version makes the same spec a new question) and the number's position in the answer (the count, a
drop-off cell, a report step, a crosstab as a whole, a federated study's cell). Asking the identical question again
is free (the keyed perturbation gives the same number, so it reveals nothing new); every new question costs one;
how many questions an answer holds is computable from the request. When an answer would take a caller past the
budget, it is refused and the caller is locked out of new questions for that study until the window has passed or
a steward resets the budget.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

QuestionId = str  # the hex digest of a question (what the ledger stores)


@dataclass(frozen=True)
class Question:
    """One number an aggregate-only caller asked for, identified by the request alone (never by its answer)."""

    surface: str  # "count", "report", "run_report", "crosstab", "federated_count"
    subject: str  # the spec hash with the content hashes of the dataset versions it reads (e.g. a count's cache key)
    position: str  # which number of the answer: "count", "dropoff:start", "step:3", "crosstab:sex|site", ...

    @property
    def identity(self) -> QuestionId:
        """A stable digest of the three parts (what the budget's ledger records)."""
        material = "\x1f".join((self.surface, self.subject, self.position))
        return hashlib.sha256(material.encode()).hexdigest()


def questions_of(surface: str, subject: str, positions: Iterable[str]) -> list[Question]:
    """The questions of one answer: one per position, all of the same surface and subject."""
    return [Question(surface=surface, subject=subject, position=position) for position in positions]


@dataclass(frozen=True)
class BudgetPolicy:
    """At most ``questions`` distinct questions per ``window``."""

    questions: int
    window: timedelta

    def window_start(self, now: datetime, reset_at: datetime | None = None) -> datetime:
        """Where the current window starts: ``window`` ago, or at the last reset when that is later."""
        start = now - self.window
        return max(start, reset_at) if reset_at is not None else start


@dataclass(frozen=True)
class BudgetDecision:
    """Whether an answer may be given, and what it costs (every number here follows from the questions alone)."""

    allowed: bool
    new: frozenset[QuestionId]
    used_before: int
    limit: int

    @property
    def used_after(self) -> int:
        return self.used_before + (len(self.new) if self.allowed else 0)


def budget_decide(
    *, used: int, answered: Set[QuestionId], asked: Iterable[QuestionId], policy: BudgetPolicy
) -> BudgetDecision:
    """``used``: distinct questions already answered in the window; ``answered``: which of the ``asked`` questions
    are among them (they cost nothing again). The answer is allowed when its new questions fit in the budget."""
    new = frozenset(asked) - frozenset(answered)
    return BudgetDecision(
        allowed=used + len(new) <= policy.questions, new=new, used_before=used, limit=policy.questions
    )
