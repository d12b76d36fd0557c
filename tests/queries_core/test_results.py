"""Counts, reports, long rows and wide rows on every engine (DuckDB, PostgreSQL, Spark): each equals the independent
oracle (values and row order), and PostgreSQL and Spark equal DuckDB (counts, report steps, run results with their
Python value types, Parquet schemas)."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from queries.core.catalog import StudyCatalog
from queries.core.compiler import output_columns
from queries.core.engines.contract import RunResult
from queries.core.engines.sql_engine import SqlEngine
from queries.core.spec import spec_validate
from tests.queries_core import oracle
from tests.queries_core.cases import CASES
from tests.queries_core.conftest import ENGINE_FIXTURES


@pytest.fixture(params=list(ENGINE_FIXTURES))
def engine(request: pytest.FixtureRequest) -> SqlEngine:
    """Each engine in turn (PostgreSQL and Spark skip outside CI when their server or Java is missing)."""
    return request.getfixturevalue(ENGINE_FIXTURES[request.param])


def read(path: Path) -> tuple[list[str], list[tuple[Any, ...]], list[str]]:
    table = pq.read_table(path)
    return table.column_names, [tuple(r.values()) for r in table.to_pylist()], [kind(t) for t in table.schema.types]


def kind(t: pa.DataType) -> str:
    """Logical type for parity (physical widths may differ between writers)."""
    for name, check in (
        ("integer", pa.types.is_integer),
        ("float", pa.types.is_floating),
        ("string", pa.types.is_string),
    ):
        if check(t):
            return name
    return str(t)


def typed(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Values with their Python types, so 1 == 1.0 == True cannot hide a type difference between engines."""
    return tuple((type(v).__name__, v) for v in row)


@pytest.mark.parametrize(("study", "case", "spec"), CASES, ids=[f"{s}-{c}" for s, c, _ in CASES])
def test_counts_and_steps(
    engine: SqlEngine,
    duck_engine: SqlEngine,
    catalogs: dict[str, StudyCatalog],
    oracles: dict[str, oracle.Study],
    study: str,
    case: str,
    spec: dict[str, Any],
) -> None:
    expected = oracle.count(oracles[study], spec)
    initial = oracle.count(oracles[study], {})
    got = engine.count(spec_validate(spec, catalogs[study]), catalogs[study])
    assert (got.participants, got.rows) == expected
    steps = engine.steps(spec_validate(spec, catalogs[study]), catalogs[study])
    assert (steps[-1].participants, steps[-1].rows) == expected
    assert (steps[0].participants, steps[0].rows) == initial
    assert all(a.participants >= b.participants and a.rows >= b.rows for a, b in itertools.pairwise(steps))
    if engine is not duck_engine:  # parity of the whole report
        assert steps == duck_engine.steps(spec_validate(spec, catalogs[study]), catalogs[study])


SHAPED = [(s, c, spec, shape) for s, c, spec in CASES for shape in (["long", "wide"] if s != "xs" else ["long"])]


def run_read(
    engine: SqlEngine, spec: dict[str, Any], cat: StudyCatalog, out: Path
) -> tuple[RunResult, list[str], list[tuple[Any, ...]], list[str]]:
    result = engine.run(spec_validate(spec, cat), cat, out)
    return (result, *read(out))


@pytest.mark.parametrize(
    ("study", "case", "spec", "shape"), SHAPED, ids=[f"{s}-{c}-{shape}" for s, c, _, shape in SHAPED]
)
def test_rows(
    engine: SqlEngine,
    duck_engine: SqlEngine,
    catalogs: dict[str, StudyCatalog],
    oracles: dict[str, oracle.Study],
    tmp_path: Path,
    study: str,
    case: str,
    spec: dict[str, Any],
    shape: str,
) -> None:
    cat = catalogs[study]
    long_names = [c.name for c in output_columns(spec_validate(spec, cat), cat)]
    if shape == "long":
        expected_names, expected_rows = long_names, oracle.long_rows(oracles[study], spec)
        assert len(long_names) == len(oracle.columns(oracles[study], spec))
    else:
        expected_names, expected_rows = oracle.wide(oracles[study], spec, long_names)
    result, names, rows, kinds = run_read(engine, {**spec, "shape": shape}, cat, tmp_path / "out.parquet")
    assert names == expected_names == list(result.columns)
    assert rows == expected_rows  # same values, same deterministic order
    assert result.row_count == len(rows) and result.shape == shape
    if shape == "wide":
        assert len({r[0] for r in rows}) == len(rows)  # one row per participant
    if engine is not duck_engine:  # engine parity incl. Python value types and Parquet kinds
        reference, _, duck_rows, duck_kinds = run_read(duck_engine, {**spec, "shape": shape}, cat, tmp_path / "d.pq")
        assert (result, [typed(r) for r in rows], kinds) == (reference, [typed(r) for r in duck_rows], duck_kinds)


def test_dates_and_booleans_come_back_typed(
    engine: SqlEngine, catalogs: dict[str, StudyCatalog], tmp_path: Path
) -> None:
    spec = {"participants": ["P01"], "columns": {"cognitive": ["visit_date", "dropout"]}}
    engine.run(spec_validate(spec, catalogs["xs"]), catalogs["xs"], tmp_path / "t.parquet")
    row = pq.read_table(tmp_path / "t.parquet").to_pylist()[0]
    assert row["visit_date"] == dt.date(2020, 1, 15) and row["dropout"] is False


def test_cross_sectional_wide_is_long(
    engine: SqlEngine, catalogs: dict[str, StudyCatalog], oracles: dict[str, oracle.Study], tmp_path: Path
) -> None:
    spec = {"shape": "wide", "columns": {"cognitive": ["memory"]}}
    result = engine.run(spec_validate(spec, catalogs["xs"]), catalogs["xs"], tmp_path / "w.parquet")
    assert result.shape == "long"
    assert read(tmp_path / "w.parquet")[1] == oracle.long_rows(oracles["xs"], spec)
