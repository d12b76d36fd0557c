"""Catalog statistics below the query level: the same small-cell rule as counts, for every profile number.

A column profile (missing count, distinct count, min, max, mean, standard deviation, top values, histogram) is
computed once per dataset version. Shown to a caller below ``query`` it would reveal small groups and single people
(a category three rows hold, the oldest participant's exact age, a missing count that is "the total minus the
rest"). :func:`protect_profile` turns the exact profile into what such a caller sees:

- every count is a cell of the cell-key method, perturbed with its participants' keys and suppressed below k —
  the dataset's row and participant totals too, so no exact complementary total exists;
- a value is listed only when at least k (perturbed) participants hold it, with its perturbed count; ``distinct``
  counts only those values (``None`` when the column's values were not tabulated: too many distinct values);
- ``min`` / ``max`` become bounds that no single person sets: the k-th smallest and k-th largest per-participant
  value, rounded outward (numbers to two significant digits, dates to the month); text columns get none;
- ``mean`` and ``std`` are rounded to three significant digits; histograms are not shown.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from access.disclosure.cells import Cell, DisclosureRules, ShownCell, protect_cell
from core.column_types import NUMERIC_TYPES

DATES = frozenset({"date", "timestamp"})


@dataclass(frozen=True)
class ColumnCells:
    """The cells of one column of a version: its missing rows, each tabulated value, and the k-th extremes."""

    name: str
    missing: Cell
    values: tuple[tuple[Any, Cell], ...] | None = None  # None: not tabulated (too many distinct values)
    lower: Any = None  # k-th smallest per-participant value (None: fewer than k participants have one)
    upper: Any = None  # k-th largest


@dataclass(frozen=True)
class VersionCells:
    """The cells of a whole version: its total (every row with an id) and each column's."""

    total: Cell
    columns: Mapping[str, ColumnCells] = field(default_factory=dict)


def significant(value: float, digits: int, direction: str = "nearest") -> float:
    """``value`` rounded to ``digits`` significant digits (``down`` / ``up`` / ``nearest``)."""
    if value == 0 or not math.isfinite(value):
        return value
    scale = 10 ** (digits - 1 - math.floor(math.log10(abs(value))))
    scaled = value * scale
    rounded = math.floor(scaled) if direction == "down" else math.ceil(scaled) if direction == "up" else round(scaled)
    result = rounded / scale
    return float(f"{result:.{max(digits + 2, 1)}g}")


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def outward_bound(value: Any, column_type: str, direction: str) -> Any:
    """A k-th extreme rounded away from the data (``down`` for the lower bound, ``up`` for the upper one)."""
    if value is None:
        return None
    if column_type in NUMERIC_TYPES and isinstance(value, int | float) and not isinstance(value, bool):
        bound = significant(float(value), 2, direction)
        return int(bound) if column_type == "integer" and float(bound).is_integer() else bound
    if column_type in DATES:
        day = _date(value)
        if day is None:
            return None
        if direction == "down":
            return day.replace(day=1).isoformat()
        return day.replace(day=calendar.monthrange(day.year, day.month)[1]).isoformat()
    return None


def _rounded(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return significant(float(value), 3)
    return None


def shown_values(
    values: Sequence[tuple[Any, Cell]], rules: DisclosureRules, limit: int | None = None
) -> list[tuple[Any, ShownCell]]:
    """The values at least k (perturbed) participants hold, most frequent (shown rows) first, then by value text."""
    shown = [(value, protect_cell(cell, rules)) for value, cell in values]
    kept = [(value, cell) for value, cell in shown if not cell.suppressed]
    kept.sort(key=lambda item: (-(item[1].rows or 0), str(item[0])))
    return kept if limit is None else kept[:limit]


def protect_profile(
    profile: Mapping[str, Any], cells: ColumnCells | None, rules: DisclosureRules, *, values_hidden: bool = False
) -> dict[str, Any]:
    """One column profile (the stored dict) as a caller below ``query`` sees it (see the module docstring).

    ``values_hidden``: the column's values may not be shown at all (identifying columns, the participant id)."""
    out = dict(profile)
    column_type = str(profile.get("type", ""))
    out["histogram"] = None
    if cells is None:  # nothing tabulated: show no number at all
        out.update(missing=None, distinct=None, min=None, max=None, mean=None, std=None, top_values=None)
        return out
    out["missing"] = protect_cell(cells.missing, rules).rows
    if values_hidden:
        out.update(distinct=None, min=None, max=None, mean=None, std=None, top_values=None)
        return out
    if cells.values is None:
        out["distinct"] = None
        out["top_values"] = None if profile.get("top_values") is None else []
    else:
        common = shown_values(cells.values, rules)
        out["distinct"] = len(common)
        if profile.get("top_values") is not None:
            limit = max(len(profile.get("top_values") or []), 1)
            out["top_values"] = [{"value": value, "count": cell.rows} for value, cell in common[:limit]]
    out["min"] = outward_bound(cells.lower, column_type, "down")
    out["max"] = outward_bound(cells.upper, column_type, "up")
    out["mean"] = _rounded(profile.get("mean"))
    out["std"] = _rounded(profile.get("std"))
    return out
