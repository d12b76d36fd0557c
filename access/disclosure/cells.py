"""Cells and the rules that decide what an aggregate-only caller sees of them.

A :class:`Cell` is one count of a set of participants: how many participants, how many rows (participant-sessions
in a longitudinal study; the same as participants in a cross-sectional one) and the two cell keys. The participants'
key is the sum of their record keys; the rows' key is the sum over the counted rows of their participant's record
key (a participant with three counted sessions adds their key three times), so rows are perturbed with keys derived
from the participants and equal sets of rows always show equal numbers.

:func:`protect_cell` applies the rules: the participant count is perturbed (:mod:`access.disclosure.ptable`); when
the true or the perturbed participant count is below the threshold k the cell is **suppressed** (participants and
rows hidden); otherwise the rows are perturbed with their own key and never shown below the participants (a row
count cannot be smaller than the number of participants it covers). Suppression is therefore decided on
participants, never on rows: a group of fewer than k people is never shown, whatever its rows; and because the
perturbed count decides too, the boundary is noisy (adding one person at a time does not find the exact point where
a count appears).
"""

from __future__ import annotations

from dataclasses import dataclass

from access.disclosure.keys import KEY_MODULUS
from access.disclosure.ptable import PerturbationTable, perturbation_table


@dataclass(frozen=True)
class Cell:
    """The true counts of one set of participants and their cell keys (never shown to aggregate-only callers)."""

    participants: int
    rows: int
    participants_key: int
    rows_key: int

    def __post_init__(self) -> None:
        if self.participants < 0 or self.rows < 0:
            raise ValueError("counts are never negative")
        object.__setattr__(self, "participants_key", self.participants_key % KEY_MODULUS)
        object.__setattr__(self, "rows_key", self.rows_key % KEY_MODULUS)

    @classmethod
    def of_participants(cls, participants: int, key: int) -> Cell:
        """A cell whose rows are its participants (cross-sectional data, or a per-participant count)."""
        return cls(participants=participants, rows=participants, participants_key=key, rows_key=key)


EMPTY = Cell(participants=0, rows=0, participants_key=0, rows_key=0)


@dataclass(frozen=True)
class DisclosureRules:
    """Threshold k and the perturbation table (maximum noise D, variance V) of one study."""

    threshold: int
    table: PerturbationTable

    @classmethod
    def build(cls, *, threshold: int, max_noise: int, variance: float) -> DisclosureRules:
        if threshold < 1:
            raise ValueError("the threshold k must be at least 1")
        return cls(threshold=int(threshold), table=perturbation_table(int(max_noise), float(variance)))

    @property
    def max_noise(self) -> int:
        return self.table.max_noise

    @property
    def variance(self) -> float:
        return self.table.variance


@dataclass(frozen=True)
class ShownCell:
    """A cell as an aggregate-only caller sees it (``None`` counts when suppressed)."""

    participants: int | None
    rows: int | None
    suppressed: bool


SUPPRESSED = ShownCell(participants=None, rows=None, suppressed=True)


def protect_cell(cell: Cell, rules: DisclosureRules) -> ShownCell:
    """Perturb ``cell``; suppress it when it has, or would show, fewer than k participants."""
    participants = rules.table.perturb(cell.participants, cell.participants_key)
    if cell.participants < rules.threshold or participants < rules.threshold:
        return SUPPRESSED
    rows = rules.table.perturb(cell.rows, cell.rows_key)
    return ShownCell(participants=participants, rows=max(rows, participants), suppressed=False)
