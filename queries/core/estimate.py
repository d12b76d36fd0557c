"""How big a piece of engine work will be, from the catalog statistics alone (before any engine work).

The numbers are upper bounds from the pinned versions' statistics (row counts, distinct ids and sessions): filters
are assumed to keep everything, because their selectivity is unknown until the engine runs. Participant and
session lists are exact bounds and narrow the estimate. Work that cannot fit its budget is refused with
:class:`OverBudget`, whose message says what to change.

- A run's result: rows x columns. Long: the demographics rows (narrowed by participant/session lists) times the
  fan-out of every joined dataset (its rows per demographics row, at least 1). Wide: one row per participant and,
  per value column, one column per session label (the engine outputs columns that never vary once; the estimate
  cannot know which).
- Interactive work (counts, filtering reports): the rows the engine scans (the join of the datasets that carry
  filters) times the conditions it evaluates per row. A report is one scan too: per row, the number of leading
  conditions it satisfies (each condition once), then a histogram per merge key and participant; so ``n + 1``
  evaluations per row for ``n`` conditions, and engine state per participant, not per step. A report's work is
  counted on at least :data:`REPORT_MIN_ROWS` rows, so even on a tiny study the number of live report steps stays
  bounded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from queries.core.catalog import DatasetInfo, StudyCatalog
from queries.core.compiler import output_columns
from queries.core.spec import Shape, ValidatedSpec

InteractiveKind = Literal["count", "report"]


class OverBudget(ValueError):
    """The work cannot fit its budget. ``message`` says what to change; ``details`` holds the numbers."""

    code = "too_large"

    def __init__(self, message: str, details: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details)


@dataclass(frozen=True)
class StudySize:
    """The sizes the estimates start from (0 = unknown)."""

    demographics_rows: int
    participants: int
    sessions: int  # distinct raw sessions (1 for cross-sectional studies)


@dataclass(frozen=True)
class RunEstimate:
    shape: Shape
    rows: int
    columns: int
    value_columns: int
    sessions: int  # session labels a wide result may spread each varying column over

    @property
    def cells(self) -> int:
        return self.rows * self.columns


#: Rows a live report's work is counted on at least (its compile cost does not shrink with the study).
REPORT_MIN_ROWS = 200_000
#: Engine memory per participant of a filtering report (its merge keys' reach and the grouping state), an upper
#: bound measured on DuckDB 2.0 (docs/performance.md).
REPORT_PARTICIPANT_BYTES = 64


@dataclass(frozen=True)
class InteractiveEstimate:
    kind: InteractiveKind
    rows: int  # rows scanned
    participants: int
    conditions: int
    evaluations_per_row: int

    @property
    def work(self) -> int:
        return self.rows * self.evaluations_per_row

    @property
    def memory_bytes(self) -> int:
        """Engine memory of a count's or report's grouping state: one entry per participant, whatever the steps."""
        return self.participants * REPORT_PARTICIPANT_BYTES


def _distinct(ds: DatasetInfo, column: str | None) -> int:
    info = ds.column(column) if column else None
    return int(info.distinct or 0) if info is not None else 0


def study_size(catalog: StudyCatalog) -> StudySize:
    """Rows, participants and sessions of the demographics table, from its statistics."""
    demo = catalog.demo
    rows = int(demo.row_count or 0)
    participants = _distinct(demo, catalog.keys.id_column) or rows
    sessions = 1
    if catalog.longitudinal:
        sessions = _distinct(demo, catalog.keys.session_column) or (rows // participants if participants else 0) or 1
    return StudySize(rows, participants, sessions)


def _fanout(catalog: StudyCatalog, name: str, demographics_rows: int) -> float:
    """Rows one demographics row becomes when ``name`` is LEFT JOINed (its rows per demographics row, at least 1)."""
    rows = int(catalog.datasets[name].row_count or 0)
    if not rows or not demographics_rows:
        return 1.0
    return max(1.0, rows / demographics_rows)


def _scaled_rows(v: ValidatedSpec, size: StudySize) -> float:
    """Demographics rows left by the participant and session lists (proportionally)."""
    rows = float(size.demographics_rows or size.participants)
    if v.participants and size.participants:
        rows *= min(1.0, len(v.participants) / size.participants)
    if v.sessions and size.sessions:
        rows *= min(1.0, len(v.sessions) / size.sessions)
    return rows


def estimate_run(v: ValidatedSpec, *, max_rows: int | None = None) -> RunEstimate:
    """Upper bound of a run's result size. Rows beyond ``max_rows`` fail the run anyway, so they are not counted."""
    catalog = v.catalog
    size = study_size(catalog)
    columns = output_columns(v, catalog)
    values = sum(1 for c in columns if c.role == "value")
    if v.shape == "wide" and catalog.longitudinal:
        participants = size.participants
        if v.participants:
            participants = min(participants, len(v.participants)) if participants else len(v.participants)
        labels = min(size.sessions, len(v.sessions)) if v.sessions else size.sessions
        rows = participants if max_rows is None else min(participants, max_rows)
        return RunEstimate("wide", rows, 1 + values * max(1, labels), values, max(1, labels))
    rows_f = _scaled_rows(v, size)
    for name in v.joined:
        rows_f *= _fanout(catalog, name, size.demographics_rows)
    rows = math.ceil(rows_f)
    if max_rows is not None:
        rows = min(rows, max_rows)
    return RunEstimate("long", rows, len(columns), values, size.sessions)


def estimate_interactive(v: ValidatedSpec, kind: InteractiveKind) -> InteractiveEstimate:
    """Rows scanned and condition evaluations of a count or a filtering report."""
    catalog = v.catalog
    size = study_size(catalog)
    rows_f = float(size.demographics_rows or size.participants)
    for name in v.filter_datasets:
        rows_f *= _fanout(catalog, name, size.demographics_rows)
    conditions = len(v.filters) + bool(v.sites) + bool(v.sessions) + bool(v.participants)
    if kind == "count":
        return InteractiveEstimate(kind, math.ceil(rows_f), size.participants, conditions, max(1, conditions))
    per_row = conditions + 1
    return InteractiveEstimate(kind, max(REPORT_MIN_ROWS, math.ceil(rows_f)), size.participants, conditions, per_row)


def run_budget_check(estimate: RunEstimate, *, max_cells: int) -> None:
    """Refuse a run whose result could exceed ``max_cells`` cells, saying what to change."""
    if estimate.cells <= max_cells:
        return
    details = {
        "rows": estimate.rows,
        "columns": estimate.columns,
        "cells": estimate.cells,
        "max_cells": max_cells,
        "shape": estimate.shape,
    }
    if estimate.shape == "wide":
        fit = (max_cells // max(1, estimate.rows) - 1) // max(1, estimate.value_columns)
        hint = (
            f"at most {fit:,} sessions with these columns" if fit >= 1 else "a participant list, or far fewer columns"
        )
        message = (
            f"This wide result could have {estimate.rows:,} participants x {estimate.columns:,} columns "
            f"({estimate.cells:,} cells), more than the {max_cells:,} cells allowed. Pick fewer sessions ({hint}), "
            "fewer columns, a participant list, or long format."
        )
        details["sessions_that_fit"] = max(0, fit)
    else:
        fit = max_cells // max(1, estimate.rows)
        message = (
            f"This result could have {estimate.rows:,} rows x {estimate.columns:,} columns "
            f"({estimate.cells:,} cells), more than the {max_cells:,} cells allowed. Pick fewer columns (at most "
            f"{fit:,} for this many rows) or narrow the rows with a participant or session list."
        )
        details["columns_that_fit"] = fit
    raise OverBudget(message, details)


def interactive_budget_check(
    estimate: InteractiveEstimate, *, max_work: int, memory_bytes: int, aggregate_only: bool = False
) -> None:
    """Refuse a count or report whose condition evaluations would exceed ``max_work``, or whose grouping state
    would exceed ``memory_bytes``, saying what to change.

    ``aggregate_only``: the caller may learn the study's size only through the cell-key method, so the refusal
    carries no number taken from the data (rows, participants, memory, conditions that fit): it says what to change
    in words, and its details hold only the caller's own condition count and the workspace's limit."""
    if estimate.work <= max_work and estimate.memory_bytes <= memory_bytes:
        return
    if aggregate_only:
        raise _refusal_without_sizes(estimate, max_work=max_work, memory=estimate.memory_bytes > memory_bytes)
    per_row = max_work // max(1, estimate.rows)
    if estimate.memory_bytes > memory_bytes:
        fit = 0
        what = f"{_kind_words(estimate)} over {estimate.participants:,} participants"
        change = "The study is too large for a live answer in this process: run the query instead."
    elif estimate.kind == "report":
        fit = max(0, per_row - 1)
        what = f"filtering report of {estimate.conditions} steps over {estimate.rows:,} rows"
        change = f"Use at most {fit} filters for a live report on this study, or run the query and read its report."
    else:
        fit = per_row
        what = f"count with {estimate.conditions} conditions over {estimate.rows:,} rows"
        change = f"Use at most {fit} conditions for a live count on this study, or run the query instead."
    message = f"This {what} is more work than a live answer may take. {change}"
    details = {
        "rows": estimate.rows,
        "participants": estimate.participants,
        "conditions": estimate.conditions,
        "work": estimate.work,
        "max_work": max_work,
        "memory_bytes": estimate.memory_bytes,
        "max_memory_bytes": memory_bytes,
        "conditions_that_fit": fit,
    }
    raise OverBudget(message, details)


def _kind_words(estimate: InteractiveEstimate) -> str:
    return "filtering report" if estimate.kind == "report" else "count"


def _refusal_without_sizes(estimate: InteractiveEstimate, *, max_work: int, memory: bool) -> OverBudget:
    """The refusal an aggregate-only caller reads: what to change, no size of the study."""
    kind = _kind_words(estimate)
    if memory:
        change = "The study is too large for a live answer in this process; a data steward can help."
    else:
        change = (
            f"Use fewer conditions, or filters on fewer tables, for a live {kind} on this study."
            if estimate.kind == "count"
            else "Use fewer filters, or filters on fewer tables, for a live report on this study."
        )
    conditions = f"{estimate.conditions} condition{'' if estimate.conditions == 1 else 's'}"
    message = f"This {kind} with {conditions} is more work than a live answer may take. {change}"
    return OverBudget(message, {"conditions": estimate.conditions, "max_work": max_work, "protected": True})
