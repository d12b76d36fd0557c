"""Timeouts, cancellation, row caps and user-safe errors on every engine."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from queries.core.catalog import ColumnInfo, StudyCatalog
from queries.core.engines.contract import EngineCancelled, EngineError, EngineTimeout, RowLimitExceeded
from queries.core.engines.duckdb_engine import DuckDBEngine
from queries.core.engines.postgres_engine import PostgresEngine
from queries.core.engines.spark_engine import SparkEngine
from queries.core.engines.sql_engine import SqlEngine
from queries.core.spec import spec_validate
from tests.queries_core.conftest import PG_SCHEMA

HEAVY = {"filters": [{"dataset": "heavy_m", "column": "v", "op": "gt", "value": -1}]}


EngineFactory = Callable[..., SqlEngine]


#: A timeout the heavy query cannot meet but a small count can (a Spark statement takes a second or more).
SHORT_TIMEOUT = {"duckdb": 0.3, "postgres": 0.3, "spark": 3.0}


@pytest.fixture(params=["duckdb", "postgres", "spark"])
def make_engine(request: pytest.FixtureRequest, heavy: StudyCatalog) -> Iterator[EngineFactory]:
    made: list[SqlEngine] = []

    def factory(**kwargs: Any) -> SqlEngine:
        engine: SqlEngine
        if request.param == "duckdb":
            engine = DuckDBEngine(threads=2, **kwargs)
        elif request.param == "spark":
            engine = SparkEngine(request.getfixturevalue("spark_settings"), **kwargs)
            engine._prepare(heavy, list(heavy.datasets.values()))  # register up front, as PostgreSQL loads
        else:
            dsn = request.getfixturevalue("pg_dsn")
            engine = PostgresEngine(dsn, schema=PG_SCHEMA, batch_size=5, **kwargs)
            for ds in heavy.datasets.values():  # load up front so the tests time the query, not the load
                engine.ensure_loaded(ds, ["id"])
        made.append(engine)
        return engine

    factory.dialect = request.param  # type: ignore[attr-defined]
    yield factory
    for engine in made:
        engine.close()


def test_timeout_stops_the_query_and_the_engine_stays_usable(
    make_engine: EngineFactory, heavy: StudyCatalog, catalogs: dict[str, StudyCatalog]
) -> None:
    timeout = SHORT_TIMEOUT[make_engine.dialect]  # type: ignore[attr-defined]
    engine = make_engine(timeout_s=timeout)
    started = time.monotonic()
    with pytest.raises(EngineTimeout) as info:
        engine.count(spec_validate(HEAVY, heavy), heavy)
    assert time.monotonic() - started < timeout + 5
    assert info.value.code == "timeout" and "SELECT" not in info.value.message
    assert (
        engine.count(spec_validate({}, catalogs["xs"]), catalogs["xs"]).participants == 11
    )  # same connection, next query fine
    with pytest.raises(EngineTimeout):
        engine.steps(spec_validate(HEAVY, heavy), heavy)
    assert engine.count(spec_validate({}, catalogs["rk"]), catalogs["rk"]).rows == 13


def test_cancel_from_another_thread(
    make_engine: EngineFactory, heavy: StudyCatalog, catalogs: dict[str, StudyCatalog]
) -> None:
    engine = make_engine()
    outcome: list[BaseException | object] = []

    def work() -> None:
        try:
            outcome.append(engine.count(spec_validate(HEAVY, heavy), heavy))
        except BaseException as exc:  # recorded for the assertion
            outcome.append(exc)

    thread = threading.Thread(target=work)
    started = time.monotonic()
    thread.start()
    time.sleep(0.4)
    engine.cancel()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert isinstance(outcome[0], EngineCancelled), outcome
    assert time.monotonic() - started < 5
    assert engine.count(spec_validate({}, catalogs["xs"]), catalogs["xs"]).participants == 11


def test_cancel_before_an_operation_cancels_the_next_one_only(
    make_engine: EngineFactory, catalogs: dict[str, StudyCatalog]
) -> None:
    engine = make_engine()
    engine.cancel()
    with pytest.raises(EngineCancelled):
        engine.count(spec_validate({}, catalogs["xs"]), catalogs["xs"])
    assert engine.count(spec_validate({}, catalogs["xs"]), catalogs["xs"]).participants == 11


@pytest.mark.parametrize(("study", "shape", "size"), [("xs", "long", 11), ("rk", "long", 13), ("rk", "wide", 6)])
def test_row_cap_fails_instead_of_truncating(
    make_engine: EngineFactory, catalogs: dict[str, StudyCatalog], tmp_path: Path, study: str, shape: str, size: int
) -> None:
    out = tmp_path / "out.parquet"
    with pytest.raises(RowLimitExceeded) as info:
        make_engine(max_rows=size - 1).run(spec_validate({"shape": shape}, catalogs[study]), catalogs[study], out)
    assert info.value.limit == size - 1 and info.value.code == "row_limit"
    assert list(tmp_path.iterdir()) == []  # no result, no partial file
    assert (
        make_engine(max_rows=size).run(spec_validate({"shape": shape}, catalogs[study]), catalogs[study], out).row_count
        == size
    )
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def _without_file(catalog: StudyCatalog, path: str) -> StudyCatalog:
    demo = dataclasses.replace(catalog.demo, parquet_path=path, sha256="other")
    return StudyCatalog(catalog.keys, catalog.demographics, {**catalog.datasets, demo.name: demo})


def test_errors_never_show_paths_or_sql(
    make_engine: EngineFactory, catalogs: dict[str, StudyCatalog], tmp_path: Path
) -> None:
    engine = make_engine()
    secret = str(tmp_path / "secret-location" / "missing.parquet")
    with pytest.raises(EngineError) as info:
        engine.count(spec_validate({}, _without_file(catalogs["xs"], secret)), _without_file(catalogs["xs"], secret))
    assert "secret-location" not in info.value.message and "subjects" in info.value.message

    # a file that does not match its registered columns
    other = catalogs["xs"].datasets["cognitive"].parquet_path or ""
    with pytest.raises(EngineError) as info:
        engine.count(spec_validate({}, _without_file(catalogs["xs"], other)), _without_file(catalogs["xs"], other))
    assert other not in info.value.message

    # a type that does not fit the data: the engine's own error text stays in the logs
    bad = dataclasses.replace(
        catalogs["xs"].datasets["behaviour"],
        sha256="retyped",
        columns=tuple(
            ColumnInfo(c.name, "integer") if c.name == "task" else c
            for c in catalogs["xs"].datasets["behaviour"].columns
        ),
    )
    cat = StudyCatalog(catalogs["xs"].keys, "subjects", {**catalogs["xs"].datasets, "behaviour": bad})
    with pytest.raises(EngineError) as info:
        engine.run(spec_validate({"columns": {"behaviour": ["task"]}}, cat), cat, tmp_path / "x.parquet")
    message = info.value.message
    assert "SELECT" not in message and "flanker" not in message and str(tmp_path) not in message


def test_compiling_a_large_spec_counts_against_the_time_budget(catalogs: dict[str, StudyCatalog]) -> None:
    """A spec at the list-value cap (20,000 values) takes its compilation from the count's time limit: with a limit
    below the compile time (measured here), the count stops with the timeout error instead of running on; a small
    count on the same engine answers."""
    from queries.core.compiler import compile_count

    catalog = catalogs["xs"]
    listed = [{"dataset": "subjects", "column": "sex", "op": "in", "value": list(range(k, k + 10_000))} for k in (0, 1)]
    spec = spec_validate({"filters": listed}, catalog)
    started = time.monotonic()
    compile_count(spec, catalog, "duckdb")
    compiling = time.monotonic() - started
    engine = DuckDBEngine(threads=1, timeout_s=max(0.3, compiling / 2))
    try:
        with pytest.raises(EngineTimeout):
            engine.count(spec, catalog)
        assert engine.count(spec_validate({}, catalog), catalog).participants > 0
    finally:
        engine.close()
