"""The participant index store: counts, reports and drop-offs read it when it exists for the exact version set,
and answer exactly as over the Parquet views (cell keys included); a store of another set is never read; builds
are atomic; a removed store is let go of at the next count."""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlglot import exp

from queries.core.catalog import StudyCatalog, physical_table_name
from queries.core.compiler import compile_count
from queries.core.engines.duckdb_engine import DuckDBEngine, copy_statement
from queries.core.engines.participant_store import (
    StoreLocation,
    manifest_rows,
    store_build,
    store_digest,
    store_file,
    stores_sweep,
)
from queries.core.spec import spec_validate
from tests.queries_core.cases import CASES

FILTERED = {
    "filters": [
        {"dataset": "rockland_demo", "column": "age", "op": "gte", "value": 10},
        {"dataset": "cog", "column": "weight", "op": "lt", "value": 200},
    ]
}


def _engine(directory: Path, *, build: bool = False) -> DuckDBEngine:
    def missing(catalog: StudyCatalog) -> None:
        if build:
            store_build(directory, catalog, memory_limit="256MB", threads=1)

    return DuckDBEngine(memory_limit="512MB", threads=2, timeout_s=30, store=StoreLocation(directory, missing))


def _all(engine: DuckDBEngine, spec: dict[str, Any], catalog: StudyCatalog) -> tuple[Any, ...]:
    v = spec_validate(spec, catalog)
    return engine.count(v, catalog), engine.steps(v, catalog), engine.dropoff(v, catalog)


def _held_open(path: Path) -> bool:
    """Whether this process has ``path`` open (an attached store)."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                return True
        except OSError:
            continue
    return False


@pytest.mark.parametrize(("study", "case", "spec"), CASES, ids=[f"{s}-{c}" for s, c, _ in CASES])
def test_the_store_answers_exactly_as_the_parquet_views(
    duck_engine: DuckDBEngine,
    store_engine: DuckDBEngine,
    keyed: dict[str, StudyCatalog],
    study: str,
    case: str,
    spec: dict[str, Any],
) -> None:
    catalog = keyed[study]
    expected = _all(duck_engine, spec, catalog)
    assert duck_engine.index_used is None
    assert _all(store_engine, spec, catalog) == expected
    assert store_engine.index_used == store_digest(catalog)  # every one of the three read the store


def test_a_count_after_the_build_equals_the_count_before(catalogs: dict[str, StudyCatalog], tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    catalog = catalogs["rk"]
    before = _all(engine, FILTERED, catalog)
    assert engine.index_used is None and not store_file(tmp_path, catalog).exists()
    path, wrote = store_build(tmp_path, catalog, memory_limit="256MB", threads=1)
    assert wrote and path == store_file(tmp_path, catalog)
    assert _all(engine, FILTERED, catalog) == before
    assert engine.index_used == path.stem
    assert store_build(tmp_path, catalog, memory_limit="256MB", threads=1) == (path, False)  # never rewritten
    engine.close()


def test_the_store_holds_its_version_set_and_no_paths(catalogs: dict[str, StudyCatalog], tmp_path: Path) -> None:
    catalog = catalogs["vs"]
    path, _ = store_build(tmp_path, catalog, memory_limit="256MB", threads=1)
    con = duckdb.connect(str(path), read_only=True)
    try:
        held = {(n, int(v), h, t) for n, v, h, t in con.execute("SELECT * FROM manifest").fetchall()}
        assert held == manifest_rows(catalog)
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert tables == {
            "ids",
            "sessions",
            "manifest",
            "meta",
            *(physical_table_name(d) for d in catalog.datasets.values()),
        }
        views = con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()
        assert views == (0,)  # the build's views over local Parquet paths are gone
        demo = catalog.demo
        ids = con.execute("SELECT count(*), count(DISTINCT pid), min(pid), max(pid) FROM ids").fetchone()
        assert ids is not None and ids[0] == ids[1] == ids[3] and ids[2] == 1  # dense
        unmapped = con.execute(f'SELECT count(*) FROM "{physical_table_name(demo)}" WHERE pid IS NULL').fetchone()
        assert unmapped == (0,)  # every demographics row with an id has its pid
    finally:
        con.close()


def test_a_store_of_an_older_version_set_never_answers_for_a_newer_one(
    catalogs: dict[str, StudyCatalog], tmp_path: Path
) -> None:
    old = catalogs["rk"]
    store_build(tmp_path, old, memory_limit="256MB", threads=1)
    cog = old.datasets["cog"]
    newer = dataclasses.replace(
        old, datasets={**old.datasets, "cog": dataclasses.replace(cog, version=cog.version + 1, sha256="f" * 64)}
    )
    engine = _engine(tmp_path)
    reference = DuckDBEngine(memory_limit="512MB", threads=2, timeout_s=30)
    assert _all(engine, FILTERED, newer) == _all(reference, FILTERED, newer)
    assert engine.index_used is None  # the old set's file is not the new set's
    # Even a file of the old set put under the new set's name is refused (its manifest is checked).
    os.link(store_file(tmp_path, old), store_file(tmp_path, newer))
    assert _all(engine, FILTERED, newer) == _all(reference, FILTERED, newer)
    assert engine.index_used is None
    _all(engine, FILTERED, old)
    assert engine.index_used == store_digest(old) and _held_open(store_file(tmp_path, old))
    os.unlink(store_file(tmp_path, newer))
    store_build(tmp_path, newer, memory_limit="256MB", threads=1)  # what a worker does for the new set
    assert not store_file(tmp_path, old).exists()  # the build removed the older set's store
    assert _all(engine, FILTERED, newer) == _all(reference, FILTERED, newer)
    assert engine.index_used == store_digest(newer)
    assert not _held_open(store_file(tmp_path, old))  # and this process let it go
    engine.close()
    reference.close()


def test_concurrent_builds_of_one_set_leave_one_whole_file(catalogs: dict[str, StudyCatalog], tmp_path: Path) -> None:
    catalog = catalogs["rk"]
    results: list[tuple[Path, bool]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def build() -> None:
        try:
            start.wait()
            results.append(store_build(tmp_path, catalog, memory_limit="128MB", threads=1))
        except BaseException as exc:  # recorded for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 4
    assert sorted(os.listdir(tmp_path)) == [store_file(tmp_path, catalog).name]  # no temporary file left
    engine = _engine(tmp_path)
    reference = DuckDBEngine(memory_limit="512MB", threads=2, timeout_s=30)
    assert _all(engine, FILTERED, catalog) == _all(reference, FILTERED, catalog)
    assert engine.index_used == store_digest(catalog)
    engine.close()
    reference.close()


def test_a_removed_store_is_let_go_and_counts_read_parquet(catalogs: dict[str, StudyCatalog], tmp_path: Path) -> None:
    catalog = catalogs["rk"]
    engine = _engine(tmp_path, build=True)
    first = _all(engine, FILTERED, catalog)
    path = store_file(tmp_path, catalog)
    assert engine.index_used == path.stem and _held_open(path)
    assert stores_sweep(tmp_path) == 1  # what deleting the study's data does
    engine.store = StoreLocation(tmp_path)  # no rebuild
    assert _all(engine, FILTERED, catalog) == first
    assert engine.index_used is None and not path.exists()
    assert not _held_open(path)  # detached: the deleted bytes are no longer reachable through this process
    engine.close()


def test_a_failing_build_request_never_fails_the_count(catalogs: dict[str, StudyCatalog], tmp_path: Path) -> None:
    def broken(catalog: StudyCatalog) -> None:
        raise RuntimeError("queue unavailable")

    engine = DuckDBEngine(memory_limit="512MB", threads=2, store=StoreLocation(tmp_path, broken))
    reference = DuckDBEngine(memory_limit="512MB", threads=2)
    assert _all(engine, FILTERED, catalogs["rk"]) == _all(reference, FILTERED, catalogs["rk"])
    assert engine.index_used is None
    engine.close()
    reference.close()


def test_a_build_without_local_files_writes_nothing(catalogs: dict[str, StudyCatalog], tmp_path: Path) -> None:
    catalog = catalogs["rk"]
    demo = dataclasses.replace(catalog.demo, parquet_path=None)
    broken = dataclasses.replace(catalog, datasets={**catalog.datasets, demo.name: demo})
    with pytest.raises(ValueError, match="no local data file"):
        store_build(tmp_path, broken, memory_limit="128MB", threads=1)
    assert os.listdir(tmp_path) == []


def test_other_dialects_ignore_the_index(catalogs: dict[str, StudyCatalog]) -> None:
    catalog = catalogs["rk"]
    v = spec_validate(FILTERED, catalog)
    for dialect in ("postgres", "spark"):
        assert compile_count(v, catalog, dialect, index="ps_x") == compile_count(v, catalog, dialect)  # type: ignore[arg-type]
    sql = compile_count(v, catalog, "duckdb", index="ps_x")
    assert '"ps_x"."main"' in sql and '"pid"' in sql
    assert '"ps_x"' not in compile_count(v, catalog, "duckdb")


def test_results_are_copied_by_a_statement_built_as_a_tree(
    duck_engine: DuckDBEngine, catalogs: dict[str, StudyCatalog], tmp_path: Path
) -> None:
    """The COPY around a run's query is a sqlglot tree: a path with quotes and SQL words stays a path."""
    catalog = catalogs["rk"]
    target = tmp_path / "it's'; DROP TABLE x; --.parquet"
    result = duck_engine.run(spec_validate({"columns": {"cog": ["weight"]}}, catalog), catalog, target)
    assert target.exists() and result.row_count > 0
    sql = copy_statement(exp.select(exp.Literal.number(1)), target, columns=100_000)
    assert sql.startswith("COPY (SELECT 1) TO ") and "ROW_GROUP_SIZE 2048" in sql
    assert "/it''s''; DROP TABLE x; --.parquet' WITH (FORMAT parquet" in sql
