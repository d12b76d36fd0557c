"""Tables of cells with totals: each cell perturbed on its own, then complementary suppression.

A table is a set of cells plus **lines**: a line says that one cell (its total) is made of other cells (its parts),
e.g. a crosstab row and its row total, or the per-study counts of a federated count and their sum. Every cell,
totals included, is perturbed with its own cell key (so a table need not add up exactly), then:

- **primary suppression**: a cell with fewer than k (perturbed) participants is hidden (:func:`protect_cell`);
- **complementary suppression**, repeated until nothing changes: in a line whose total is shown, a single hidden
  part would be "the total minus the shown parts", so a second part is hidden too (the smallest shown one; the total
  itself when it has no other part); in a line whose total is hidden, no part is shown (a part of a hidden whole
  bounds it).

The same function serves crosstabs now and federated counts (per-study cells against their total) later.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from access.disclosure.cells import SUPPRESSED, Cell, DisclosureRules, ShownCell, protect_cell
from access.disclosure.keys import combine_cell_keys

H = TypeVar("H", bound=Hashable)


@dataclass(frozen=True)
class Line:
    """``total`` is made of ``parts`` (cell ids of the same table)."""

    total: Hashable
    parts: tuple[Hashable, ...]


def _complement_once(shown: dict[Hashable, ShownCell], line: Line, order: Mapping[Hashable, int]) -> bool:
    total = shown[line.total]
    visible = [part for part in line.parts if not shown[part].suppressed]
    hidden = [part for part in line.parts if shown[part].suppressed]
    if total.suppressed:
        for part in visible:
            shown[part] = SUPPRESSED
        return bool(visible)
    if len(hidden) != 1:
        return False
    if not visible:
        shown[line.total] = SUPPRESSED
        return True
    smallest = min(visible, key=lambda part: (shown[part].participants or 0, order[part]))
    shown[smallest] = SUPPRESSED
    return True


def protect_table(cells: Mapping[H, Cell], lines: Sequence[Line], rules: DisclosureRules) -> dict[H, ShownCell]:
    """Every cell of the table as an aggregate-only caller sees it (primary + complementary suppression)."""
    for line in lines:
        missing = [name for name in (line.total, *line.parts) if name not in cells]
        if missing:
            raise KeyError(f"line names unknown cells: {missing!r}")
    shown: dict[Hashable, ShownCell] = {name: protect_cell(cell, rules) for name, cell in cells.items()}
    order: dict[Hashable, int] = {name: index for index, name in enumerate(cells)}
    changed = True
    while changed:
        changed = False
        for line in lines:
            changed = _complement_once(shown, line, order) or changed
    return {name: shown[name] for name in cells}


def total_of_disjoint(parts: Sequence[Cell]) -> Cell:
    """The total cell of disjoint parts (e.g. per-study counts: a participant belongs to one study)."""
    return Cell(
        participants=sum(part.participants for part in parts),
        rows=sum(part.rows for part in parts),
        participants_key=combine_cell_keys(*(part.participants_key for part in parts)),
        rows_key=combine_cell_keys(*(part.rows_key for part in parts)),
    )


TOTAL = "total"


def protect_parts_and_total(
    parts: Mapping[H, Cell], rules: DisclosureRules, total: Cell | None = None
) -> tuple[dict[H, ShownCell], ShownCell]:
    """Parts and their total as shown (the total defaults to the sum of disjoint parts); one line."""
    whole = total if total is not None else total_of_disjoint(list(parts.values()))
    if TOTAL in parts:
        raise ValueError(f"{TOTAL!r} is reserved for the total")
    cells: dict[Hashable, Cell] = dict(parts.items())
    cells[TOTAL] = whole
    shown = protect_table(cells, [Line(TOTAL, tuple(parts))], rules)
    return {name: shown[name] for name in parts}, shown[TOTAL]


def crosstab_lines(
    rows: Sequence[Hashable],
    columns: Sequence[Hashable],
) -> list[Line]:
    """The lines of a two-way table whose cells are named ``("cell", r, c)``, ``("row", r)``, ``("column", c)`` and
    ``("total",)``: every row and column with its margin, and both margins with the grand total."""
    lines = [Line(("row", r), tuple(("cell", r, c) for c in columns)) for r in rows]
    lines += [Line(("column", c), tuple(("cell", r, c) for r in rows)) for c in columns]
    lines.append(Line(("total",), tuple(("row", r) for r in rows)))
    lines.append(Line(("total",), tuple(("column", c) for c in columns)))
    return lines
