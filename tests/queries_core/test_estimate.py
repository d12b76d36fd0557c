"""Estimates before engine work: from catalog statistics only, refusing what cannot fit with what to change, and
letting near-limit work through."""

from __future__ import annotations

import pytest

from queries.core.catalog import ColumnInfo, DatasetInfo, StudyCatalog, StudyKeys
from queries.core.estimate import (
    REPORT_MIN_ROWS,
    OverBudget,
    estimate_interactive,
    estimate_run,
    interactive_budget_check,
    run_budget_check,
    study_size,
)
from queries.core.spec import spec_validate


def longitudinal(participants: int, sessions: int, values: int, *, measure_rows: int | None = None) -> StudyCatalog:
    """A study whose statistics say: ``participants`` x ``sessions`` demographics rows, ``values`` value columns;
    a measure table ``m`` (one value column) with ``measure_rows`` rows."""
    rows = participants * sessions
    demo_cols = (ColumnInfo("pid", "string", distinct=participants), ColumnInfo("ses", "string", distinct=sessions))
    demo_cols += tuple(ColumnInfo(f"v{i}", "float") for i in range(values))
    demo = DatasetInfo("demo", "demographics", 1, "a" * 64, demo_cols, row_count=rows)
    m_cols = (ColumnInfo("pid", "string"), ColumnInfo("ses", "string"), ColumnInfo("score", "float"))
    measure = DatasetInfo("m", "measure", 1, "b" * 64, m_cols, row_count=measure_rows or rows)
    return StudyCatalog(StudyKeys("pid", "ses"), "demo", {"demo": demo, "m": measure})


ISSUE = {"shape": "wide", "sessions": [f"S{i}" for i in range(1500)]}


def test_the_incident_wide_run_is_sized_from_statistics() -> None:
    """10 participants, 1,500 session labels asked, 8 columns: one row per participant, 8 x 1,500 + 1 columns."""
    catalog = longitudinal(10, 1500, 8)
    estimate = estimate_run(spec_validate(ISSUE, catalog))
    assert (estimate.rows, estimate.columns, estimate.cells) == (10, 12_001, 120_010)
    run_budget_check(estimate, max_cells=120_010)  # exactly at the limit: fits
    with pytest.raises(OverBudget) as info:
        run_budget_check(estimate, max_cells=100_000)
    message = info.value.message
    assert "10 participants x 12,001 columns" in message and "fewer sessions" in message
    assert "at most 1,249 sessions" in message  # (100,000 / 10 - 1) // 8
    assert info.value.details["sessions_that_fit"] == 1249 and info.value.code == "too_large"
    # what the message suggests does fit
    fitted = estimate_run(spec_validate({"shape": "wide", "sessions": ISSUE["sessions"][:1249]}, catalog))
    run_budget_check(fitted, max_cells=100_000)


def test_lists_narrow_the_estimate_and_unknown_statistics_never_refuse() -> None:
    catalog = longitudinal(1000, 20, 5)
    wide = estimate_run(spec_validate({"shape": "wide", "participants": ["a", "b"], "sessions": ["S1"]}, catalog))
    assert (wide.rows, wide.columns) == (2, 6)
    long = estimate_run(spec_validate({"participants": [f"p{i}" for i in range(100)]}, catalog))
    assert long.rows == 2000  # 100 of 1,000 participants, 20 sessions each
    bare = StudyCatalog(
        StudyKeys("pid"),
        "demo",
        {"demo": DatasetInfo("demo", "demographics", 1, "c" * 64, (ColumnInfo("pid", "string"),))},
    )
    assert study_size(bare).participants == 0
    run_budget_check(estimate_run(spec_validate({}, bare)), max_cells=1)


def test_long_results_count_the_fanout_of_joined_tables_and_the_row_cap() -> None:
    catalog = longitudinal(1000, 10, 3, measure_rows=50_000)  # 5 measure rows per demographics row
    spec = spec_validate({"columns": {"m": ["score"]}}, catalog)
    estimate = estimate_run(spec)
    assert estimate.rows == 50_000 and estimate.columns == 2 + 3 + 1
    assert estimate_run(spec, max_rows=20_000).rows == 20_000  # rows past the cap fail the run anyway
    with pytest.raises(OverBudget) as info:
        run_budget_check(estimate, max_cells=100_000)
    assert "rows x 6 columns" in info.value.message and "at most 2 for this many rows" in info.value.message


def test_a_report_over_the_work_budget_is_refused_and_the_suggested_size_fits() -> None:
    """A report is one scan (each condition evaluated once per row): refused before any engine work when rows x
    (conditions + 1) exceeds the budget, with a filter count that does fit."""
    catalog = longitudinal(150_000, 2, 20)
    filters = [{"dataset": "demo", "column": f"v{i % 20}", "op": "gt", "value": i} for i in range(200)]
    estimate = estimate_interactive(spec_validate({"filters": filters}, catalog), "report")
    assert estimate.rows == 300_000 and estimate.conditions == 200
    assert estimate.work == 300_000 * 201
    interactive_budget_check(estimate, max_work=400_000_000, memory_bytes=2_000_000_000)  # the default fits
    with pytest.raises(OverBudget) as info:
        interactive_budget_check(estimate, max_work=30_000_000, memory_bytes=2_000_000_000)
    fit = info.value.details["conditions_that_fit"]
    assert f"at most {fit} filters" in info.value.message and fit == 99
    near = estimate_interactive(spec_validate({"filters": filters[:fit]}, catalog), "report")
    interactive_budget_check(near, max_work=30_000_000, memory_bytes=2_000_000_000)
    over = estimate_interactive(spec_validate({"filters": filters[: fit + 1]}, catalog), "report")
    with pytest.raises(OverBudget):
        interactive_budget_check(over, max_work=30_000_000, memory_bytes=2_000_000_000)


def test_a_tiny_study_still_bounds_live_report_steps() -> None:
    """Whatever the study's size, a report is costed on at least REPORT_MIN_ROWS rows."""
    catalog = longitudinal(3, 2, 5)
    filters = [{"dataset": "demo", "column": "v0", "op": "gt", "value": i} for i in range(200)]
    estimate = estimate_interactive(spec_validate({"filters": filters}, catalog), "report")
    assert estimate.rows == REPORT_MIN_ROWS
    with pytest.raises(OverBudget) as info:
        interactive_budget_check(estimate, max_work=20_000_000, memory_bytes=2_000_000_000)
    assert info.value.details["conditions_that_fit"] == 20_000_000 // REPORT_MIN_ROWS - 1


def test_report_memory_is_per_participant_not_per_step() -> None:
    catalog = longitudinal(1_000_000, 1, 5)
    few = [{"dataset": "demo", "column": "v0", "op": "gt", "value": i} for i in range(2)]
    many = [{"dataset": "demo", "column": "v0", "op": "gt", "value": i} for i in range(50)]
    small = estimate_interactive(spec_validate({"filters": few}, catalog), "report")
    large = estimate_interactive(spec_validate({"filters": many}, catalog), "report")
    assert small.memory_bytes == large.memory_bytes == 1_000_000 * 64
    interactive_budget_check(large, max_work=10**12, memory_bytes=500_000_000)
    with pytest.raises(OverBudget) as info:
        interactive_budget_check(small, max_work=10**12, memory_bytes=50_000_000)
    assert info.value.details["conditions_that_fit"] == 0 and "run the query" in info.value.message


def test_counts_cost_one_evaluation_per_condition() -> None:
    catalog = longitudinal(100_000, 1, 5)
    filters = [{"dataset": "demo", "column": "v1", "op": "lt", "value": i} for i in range(200)]
    count = estimate_interactive(spec_validate({"filters": filters, "sessions": ["S0"]}, catalog), "count")
    assert count.conditions == 201 and count.work == 100_000 * 201
    interactive_budget_check(count, max_work=400_000_000, memory_bytes=512_000_000)  # a 200-filter count is fine
