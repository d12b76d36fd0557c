"""The builder's live drop-off: the count answer's per-filter numbers placed next to the rows they belong to, and
inputs outside the data's range flagged.

The count's spec lists the age filter first (when set), then the complete filter rows in order
(:func:`queries.pages.builder.state_to_spec`); :func:`spec_positions` maps the rows back to those positions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from core.config import config_get
from queries.pages.builder import RANGE, VALUE_OPS, BuilderState, FilterRow
from queries.pages.builder_schema import ColumnChoice, StudySchema
from queries.participant_stores import participant_store_wide
from tenants.models import Tenant


@dataclass(frozen=True)
class DropoffView:
    """One filter's drop-off as the page shows it (``None`` numbers: suppressed or not counted)."""

    target: str  # the id of the element it replaces: ``row-<i>-dropoff`` or ``age-dropoff``
    remaining: int | None = None
    removed: int | None = None
    removed_alone: int | None = None
    counted: bool = False  # False: the filter is not applied (incomplete row) or the count failed
    out_of_range: str = ""  # a warning when an input lies outside the data's range


def dropoff_live(tenant: Tenant, schema: StudySchema) -> bool:
    """Whether the builder computes the live drop-off for this study: when its demographics table has at most
    ``builder_dropoff_max_rows`` rows, or when its counts read a pre-joined participant index store (no joins: a
    drop-off over millions of rows takes a fraction of a second). A limit of 0 turns it off."""
    demo = schema.demographics_choice
    rows = int(demo.version.row_count or 0) if demo is not None else 0
    limit = int(config_get("builder_dropoff_max_rows", tenant))
    return limit > 0 and (rows <= limit or participant_store_wide(schema.study))


def spec_positions(state: BuilderState, schema: StudySchema) -> tuple[int | None, list[int | None]]:
    """(position of the age filter, position of each row) in the spec's filters (None: not in the spec)."""
    position = 0
    age: int | None = None
    if state.age_active and schema.study.age_column:
        age, position = 0, 1
    rows: list[int | None] = []
    for row in state.filters:
        if row.complete:
            rows.append(position)
            position += 1
        else:
            rows.append(None)
    return age, rows


def _comparable(value: Any, bound: Any, ctype: str) -> tuple[Any, Any] | None:
    """``value`` and the statistic ``bound`` as two comparable values, or None when they cannot be compared."""
    if value is None or bound is None or isinstance(value, bool) or isinstance(bound, bool):
        return None
    if isinstance(value, int | float) and isinstance(bound, int | float):
        return value, bound
    if ctype in ("date", "timestamp") and isinstance(value, str | dt.date):
        text = value.isoformat() if isinstance(value, dt.date) else value
        text, other = text.replace("T", " "), str(bound).replace("T", " ")
        size = min(len(text), len(other))  # a date against a timestamp: compare the day
        return text[:size], other[:size]
    return None


def _outside(value: Any, column: ColumnChoice) -> bool:
    low, high = _comparable(value, column.min, column.type), _comparable(value, column.max, column.type)
    return (low is not None and low[0] < low[1]) or (high is not None and high[0] > high[1])


def range_warning(values: list[Any], column: ColumnChoice | None, texts: tuple[str, str]) -> str:
    """A warning when one of ``values`` lies outside the column's range in the data ('' otherwise)."""
    if column is None or not column.ordered or column.min is None or column.max is None:
        return ""
    outside = [v for v in values if _outside(v, column)]
    if not outside:
        return ""
    low, high = texts
    return f"Outside the data's range ({low} – {high}): {', '.join(str(v) for v in outside)}."


def row_values(row: FilterRow) -> list[Any]:
    """The values typed into a row (bounds of a range, or the one value)."""
    if row.op == RANGE:
        return [v for v in (row.lo, row.hi) if v is not None]
    if row.op in VALUE_OPS:
        return [row.value]
    return []


def dropoff_views(
    state: BuilderState, schema: StudySchema, count: dict[str, Any] | None, short: Any
) -> tuple[DropoffView | None, list[DropoffView]]:
    """(age filter's view or None, one view per filter row) from a count answer with its drop-off; ``short``
    formats a statistic for the warning text."""
    items = (count or {}).get("dropoff") or []
    age_position, positions = spec_positions(state, schema)

    def view(target: str, position: int | None, warning: str) -> DropoffView:
        if position is None or position >= len(items):
            return DropoffView(target=target, out_of_range=warning)
        item = items[position]
        return DropoffView(
            target=target,
            remaining=item.get("remaining"),
            removed=item.get("removed"),
            removed_alone=item.get("removed_alone"),
            counted=True,
            out_of_range=warning,
        )

    age_view = None
    if schema.age is not None and schema.age.numeric:  # the page draws the age filter only then
        age = schema.age
        warning = range_warning(
            [v for v in (state.age_lo, state.age_hi) if v is not None], age, (short(age.min), short(age.max))
        )
        age_view = view("age-dropoff", age_position, warning)
    rows = []
    for i, (row, position) in enumerate(zip(state.filters, positions, strict=True)):
        column = schema.column(row.dataset, row.column)
        texts = (short(column.min), short(column.max)) if column else ("", "")
        rows.append(view(f"row-{i}-dropoff", position, range_warning(row_values(row), column, texts)))
    return age_view, rows
