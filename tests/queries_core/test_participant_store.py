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
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from access.disclosure import record_key_table
from queries.core.catalog import INDEX_WIDE, ColumnInfo, DatasetInfo, StoreIndex, StudyCatalog, physical_table_name
from queries.core.compiler import compile_count, dropoff
from queries.core.compiler.dropoff import compile_dropoff
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
from tests.queries_core.conftest import SECRET
from tests.queries_core.studies import sha256_file

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
    """Whether this process has ``path`` open (an attached store), also after the file was removed."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") in (str(path), f"{path} (deleted)"):
                return True
        except OSError:
            continue
    return False


@pytest.mark.parametrize(("study", "case", "spec"), CASES, ids=[f"{s}-{c}" for s, c, _ in CASES])
def test_the_store_answers_exactly_as_the_parquet_views(
    duck_engine: DuckDBEngine,
    store_engine: DuckDBEngine,
    tables_store_engine: DuckDBEngine,
    catalogs: dict[str, StudyCatalog],
    keyed: dict[str, StudyCatalog],
    study: str,
    case: str,
    spec: dict[str, Any],
) -> None:
    """Both layouts (the wide table where the study allows it, one table per version otherwise), with and without
    record keys (the grouped and the bitmap formulations)."""
    for catalog in (keyed[study], catalogs[study]):
        expected = _all(duck_engine, spec, catalog)
        assert duck_engine.index_used is None
        for stored in (store_engine, tables_store_engine):
            assert _all(stored, spec, catalog) == expected
            assert stored.index_used == store_digest(catalog)  # every one of the three read the store


def _rewritten(ds: DatasetInfo, folder: Path, select: str) -> DatasetInfo:
    """``ds`` as another version whose Parquet file is ``select`` over the original (``src``)."""
    con = duckdb.connect()
    try:
        con.read_parquet(ds.parquet_path).create_view("src")
        target = folder / f"{ds.name}.parquet"
        con.execute(copy_statement(sqlglot.parse_one(select, read="duckdb"), target))
    finally:
        con.close()
    return dataclasses.replace(ds, version=ds.version + 1, sha256=sha256_file(target), parquet_path=str(target))


@pytest.fixture(scope="module")
def pre_joinable(
    catalogs: dict[str, StudyCatalog], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, StudyCatalog]:
    """The two fixture studies whose measure tables repeat merge keys, made pre-joinable: every measure table keeps
    the first row of each merge key (``<study>-unique``: the wide table has one row per merge key, counted as
    bitmaps), and the same with two demographics rows repeated (``<study>-repeated``: the wide table repeats those
    merge keys, counted by grouping). Each also with record keys (``<name>-keyed``)."""
    out: dict[str, StudyCatalog] = {}
    for key in ("xs", "rk"):
        catalog = catalogs[key]
        keys = catalog.keys
        folder = tmp_path_factory.mktemp(f"pre-joinable-{key}")
        datasets = dict(catalog.datasets)
        for name, ds in catalog.datasets.items():
            if name == catalog.demographics:
                continue
            by = [keys.id_column] + (
                [keys.session_column] if catalog.joins_on_session(name) and keys.session_column else []
            )
            partition = ", ".join(f'"{c}"' for c in by)
            datasets[name] = _rewritten(
                ds, folder, f"SELECT * FROM src QUALIFY row_number() OVER (PARTITION BY {partition}) = 1"
            )
        unique = dataclasses.replace(catalog, datasets=datasets)
        demo = _rewritten(catalog.demo, folder, "SELECT * FROM src UNION ALL (SELECT * FROM src LIMIT 2)")
        repeated = dataclasses.replace(catalog, datasets={**datasets, catalog.demographics: demo})
        for variant, study in (("unique", unique), ("repeated", repeated)):
            ids = pq.read_table(study.demo.parquet_path, columns=[keys.id_column]).column(0).unique()
            path = folder / f"{variant}_record_keys.parquet"
            pq.write_table(record_key_table(SECRET, ids, keys.id_column), path)
            record_keys = DatasetInfo(
                name="record_keys",
                kind="measure",
                version=1,
                sha256=sha256_file(path),
                columns=(
                    ColumnInfo(keys.id_column, study.demo.type_of(keys.id_column)),
                    ColumnInfo("record_key", "integer"),
                ),
                parquet_path=str(path),
            )
            out[f"{key}-{variant}"] = study
            out[f"{key}-{variant}-keyed"] = dataclasses.replace(study, record_keys=record_keys)
    return out


PRE_JOINABLE = [
    (f"{s}-{variant}", s, c, spec) for s, c, spec in CASES if s in ("xs", "rk") for variant in ("unique", "repeated")
]


@pytest.mark.parametrize(
    ("name", "study", "case", "spec"), PRE_JOINABLE, ids=[f"{n}-{c}" for n, _, c, _ in PRE_JOINABLE]
)
def test_the_pre_joined_table_answers_exactly_as_the_joins(
    duck_engine: DuckDBEngine,
    store_engine: DuckDBEngine,
    pre_joinable: dict[str, StudyCatalog],
    name: str,
    study: str,
    case: str,
    spec: dict[str, Any],
) -> None:
    """The wide layout on studies with many datasets, NULL and mixed-type keys, sessions and sites: counts, reports
    and drop-offs equal the Parquet views' with and without record keys, one row per merge key or not."""
    for catalog in (pre_joinable[name], pre_joinable[f"{name}-keyed"]):
        expected = _all(duck_engine, spec, catalog)
        assert _all(store_engine, spec, catalog) == expected
        assert store_engine.index_used == store_digest(catalog)
        con = duckdb.connect(str(store_file(store_engine.store.directory, catalog)), read_only=True)  # type: ignore[union-attr]
        try:
            assert con.execute("SELECT layout, unique_keys FROM meta").fetchall() == [
                ("wide", name.endswith("-unique"))
            ]
        finally:
            con.close()


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


@pytest.mark.parametrize("wide", [True, False], ids=["wide", "tables"])
def test_the_store_holds_its_version_set_and_no_paths(
    catalogs: dict[str, StudyCatalog], tmp_path: Path, wide: bool
) -> None:
    catalog = catalogs["vs"]
    path, _ = store_build(tmp_path, catalog, memory_limit="256MB", threads=1, wide=wide)
    con = duckdb.connect(str(path), read_only=True)
    try:
        held = {(n, int(v), h, t) for n, v, h, t in con.execute("SELECT * FROM manifest").fetchall()}
        assert held == manifest_rows(catalog)
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        layout = {INDEX_WIDE} if wide else {physical_table_name(d) for d in catalog.datasets.values()}
        assert tables == {"ids", "sessions", "manifest", "meta", *layout}
        assert con.execute("SELECT layout FROM meta").fetchall() == [("wide" if wide else "tables",)]
        assert not [f for f in os.listdir(tmp_path) if f != path.name]  # the build's scratch database is gone
        views = con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()
        assert views == (0,)  # the build's views over local Parquet paths are gone
        demo = catalog.demo
        ids = con.execute("SELECT count(*), count(DISTINCT pid), min(pid), max(pid) FROM ids").fetchone()
        assert ids is not None and ids[0] == ids[1] == ids[3] and ids[2] == 1  # dense
        demo_table = INDEX_WIDE if wide else physical_table_name(demo)
        unmapped = con.execute(f'SELECT count(*) FROM "{demo_table}" WHERE pid IS NULL').fetchone()
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


def test_until_its_store_exists_a_new_version_set_reads_the_older_store_for_datasets_it_did_not_change(
    catalogs: dict[str, StudyCatalog], tmp_path: Path
) -> None:
    """A new version of ``cog`` makes a new version set; until its store is built, counts that read only other
    datasets keep the older store (same versions of what they read), counts that read ``cog`` read Parquet, and a
    store built with other key columns is never used."""
    old = catalogs["rk"]
    cog = old.datasets["cog"]
    newer = dataclasses.replace(
        old, datasets={**old.datasets, "cog": dataclasses.replace(cog, version=cog.version + 1, sha256="d" * 64)}
    )
    store_build(tmp_path, old, memory_limit="256MB", threads=1)
    asked: list[str] = []
    engine = DuckDBEngine(
        memory_limit="512MB",
        threads=2,
        timeout_s=30,
        store=StoreLocation(tmp_path, lambda catalog: asked.append(store_digest(catalog))),
    )
    reference = DuckDBEngine(memory_limit="512MB", threads=2, timeout_s=30)
    others = {"filters": [{"dataset": "rockland_demo", "column": "age", "op": "gte", "value": 10}]}
    for spec, reads_old in ((others, True), (FILTERED, False)):
        assert _all(engine, spec, newer) == _all(reference, spec, newer)
        assert engine.index_used == (store_digest(old) if reads_old else None)
    assert asked and set(asked) == {store_digest(newer)}  # the new set's own store is asked for meanwhile
    rekeyed = dataclasses.replace(newer, keys=dataclasses.replace(newer.keys, session_column=None))
    assert _all(engine, others, rekeyed) == _all(reference, others, rekeyed)
    assert engine.index_used is None  # other key columns: other pid / sid
    store_build(tmp_path, newer, memory_limit="256MB", threads=1)
    assert _all(engine, FILTERED, newer) == _all(reference, FILTERED, newer)
    assert engine.index_used == store_digest(newer)
    engine.close()
    reference.close()


def test_a_newer_version_set_never_detaches_a_store_under_a_running_count(
    catalogs: dict[str, StudyCatalog], tmp_path: Path
) -> None:
    """Threads of one process share its DuckDB database. One is running a count on the old set's store when another
    attaches the newer set's store (a version was added meanwhile), which lets the old one go: the running statement
    still finishes on the store it was compiled for, which is detached as soon as it ends."""
    old = catalogs["rk"]
    cog = old.datasets["cog"]
    newer = dataclasses.replace(
        old, datasets={**old.datasets, "cog": dataclasses.replace(cog, version=cog.version + 1, sha256="e" * 64)}
    )
    old_path, _ = store_build(tmp_path, old, memory_limit="256MB", threads=1)
    reader, other = _engine(tmp_path), _engine(tmp_path)
    reference = DuckDBEngine(memory_limit="512MB", threads=2, timeout_s=30)
    spec = spec_validate(FILTERED, old)
    with reader._reading_index(old) as index:  # what count() holds while its statement runs
        assert index is not None
        sql = compile_count(spec, old, "duckdb", index=index)
        store_build(tmp_path, newer, memory_limit="256MB", threads=1)  # the worker's build removes the old file
        assert other.count(spec_validate(FILTERED, newer), newer) == reference.count(
            spec_validate(FILTERED, newer), newer
        )
        assert other.index_used == store_digest(newer)  # the other thread reads the new store, and let the old go
        row = reader._fetch_all(sql)[0]  # the statement compiled against the old store runs on it
        assert _held_open(old_path)
    expected = reference.count(spec, old)
    assert (row[0], row[1]) == (expected.participants, expected.rows)
    assert not _held_open(old_path)  # detached when the last statement reading it ended
    assert reader.count(spec, old) == expected and reader.index_used is None  # and never read again
    for engine in (reader, other, reference):
        engine.close()


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


def _tables(engine: DuckDBEngine) -> set[str]:
    """Tables of the engine's own (in-memory) database: the record keys by ``pid`` it made for keyed statements."""
    rows = engine._con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'memory'").fetchall()
    return {str(row[0]) for row in rows}


def test_keyed_statements_join_the_record_keys_by_pid_and_they_go_with_the_store(
    catalogs: dict[str, StudyCatalog], keyed: dict[str, StudyCatalog], tmp_path: Path
) -> None:
    """Aggregate-only callers' counts, reports and drop-offs on a store join the record keys on the integer pid
    (a table made once per store and record-key version) and give the cell keys of the join by id; another
    record-key version gets its own table; the tables are dropped when the store is let go of."""
    catalog = keyed["rk"]
    engine = _engine(tmp_path, build=True)
    reference = DuckDBEngine(memory_limit="512MB", threads=2)
    assert _all(engine, FILTERED, catalog) == _all(reference, FILTERED, catalog)
    name = engine._shared.stores[os.fspath(store_file(tmp_path, catalog))].index.name
    made = {t for t in _tables(engine) if t.startswith(f"{name}__")}
    assert catalog.record_keys is not None and made == {f"{name}__{physical_table_name(catalog.record_keys)}"}
    v = spec_validate(FILTERED, catalog)
    assert "__dv_record_keys" in compile_count(v, catalog, "duckdb", index=engine.store_index(catalog))
    # Keys of another version (e.g. another secret): their own table, their own cell keys.
    folder = tmp_path / "keys"
    folder.mkdir()
    assert catalog.record_keys is not None
    other = _rewritten(
        catalog.record_keys, folder, "SELECT * REPLACE ((record_key * 7 + 3) % 4294967296 AS record_key) FROM src"
    )
    rotated = dataclasses.replace(catalog, record_keys=other)
    assert _all(engine, FILTERED, rotated) == _all(reference, FILTERED, rotated) != _all(engine, FILTERED, catalog)
    assert len({t for t in _tables(engine) if t.startswith(f"{name}__")}) == 2
    # Plain callers never make one.
    assert _all(engine, FILTERED, catalogs["rk"]) == _all(reference, FILTERED, catalogs["rk"])
    assert stores_sweep(tmp_path) == 1
    engine.store = StoreLocation(tmp_path)
    _all(engine, FILTERED, catalog)
    assert engine.index_used is None and not any(t.startswith(f"{name}__") for t in _tables(engine))
    engine.close()
    reference.close()


def test_other_counts_go_on_while_a_table_of_record_keys_is_made(
    catalogs: dict[str, StudyCatalog], keyed: dict[str, StudyCatalog], tmp_path: Path
) -> None:
    """Making a store's record keys by pid (0.2-0.3 s at a million participants) holds only the threads that want
    that table, not the process's database: while it is being made (held here as a slow maker would), another
    thread's count on the same database answers, and the keyed count answers, right, once the table is made."""
    catalog = keyed["rk"]
    reference = DuckDBEngine(memory_limit="512MB", threads=2)
    expected_keyed, expected_plain = _all(reference, FILTERED, catalog), _all(reference, FILTERED, catalogs["rk"])
    engine, other = _engine(tmp_path, build=True), _engine(tmp_path)  # one process database, two threads' engines
    assert _all(engine, FILTERED, catalogs["rk"]) == expected_plain  # attaches the store; no keyed table yet
    name = engine._shared.stores[os.fspath(store_file(tmp_path, catalog))].index.name
    assert catalog.record_keys is not None
    table = f"{name}__{physical_table_name(catalog.record_keys)}"
    maker = engine._shared.building.setdefault(table, threading.Lock())
    maker.acquire()
    answers: dict[str, Any] = {}
    waiting = threading.Thread(target=lambda: answers.update(keyed=_all(other, FILTERED, catalog)))
    waiting.start()
    try:
        for _ in range(3):
            assert _all(engine, FILTERED, catalogs["rk"]) == expected_plain  # not held up
        assert waiting.is_alive() and not answers  # the keyed count waits for its table
    finally:
        maker.release()
    waiting.join(timeout=60)
    assert answers["keyed"] == expected_keyed
    assert table in _tables(engine)
    for opened in (engine, other, reference):
        opened.close()


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


@pytest.mark.parametrize(
    "index",
    [
        StoreIndex("ps_x"),
        StoreIndex("ps_x", wide=True),
        StoreIndex("ps_x", wide=True, unique_keys=True, participants=9),
    ],
    ids=["tables", "wide", "bitmaps"],
)
def test_other_dialects_ignore_the_index(catalogs: dict[str, StudyCatalog], index: StoreIndex) -> None:
    catalog = catalogs["rk"]
    v = spec_validate(FILTERED, catalog)
    for dialect in ("postgres", "spark"):
        assert compile_count(v, catalog, dialect, index=index) == compile_count(v, catalog, dialect)  # type: ignore[arg-type]
    sql = compile_count(v, catalog, "duckdb", index=index)
    assert '"ps_x"."main"' in sql and '"pid"' in sql
    assert '"ps_x"' not in compile_count(v, catalog, "duckdb")
    assert ("BITSTRING_AGG" in sql) is index.bitmaps
    assert ('JOIN "ps_x"' in sql) is not index.wide  # the wide table is read without any join


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


def _dropoff_specs() -> list[tuple[str, str, dict[str, Any]]]:
    from tests.queries_core.test_dropoff import EXTRA

    return [(s, c, spec) for s, c, spec in CASES + EXTRA if s in ("xs", "rk") and spec.get("filters")]


@pytest.mark.parametrize("form", ["nested", "linear"])
def test_both_forms_of_the_bitmap_dropoff_answer_as_the_joins(
    duck_engine: DuckDBEngine,
    store_engine: DuckDBEngine,
    pre_joinable: dict[str, StudyCatalog],
    monkeypatch: pytest.MonkeyPatch,
    form: str,
) -> None:
    """The bitmap drop-off's row classes, as one nested CASE (small specs) and as two linear scans (larger ones,
    forced here on every spec), equal the grouped formulation over the Parquet views for every filtered case."""
    if form == "linear":
        monkeypatch.setattr(dropoff, "NESTED_MAX_FILTERS", 0)
    for study, case, spec in _dropoff_specs():
        catalog = pre_joinable[f"{study}-unique"]
        v = spec_validate(spec, catalog)
        sql = compile_dropoff(v, catalog, "duckdb", index=StoreIndex("s", True, True, 10)).sql
        assert (dropoff.FIRST_FAILED in sql) == (form == "linear"), case
        assert store_engine.dropoff(v, catalog) == duck_engine.dropoff(v, catalog), (study, case)
        assert store_engine.index_used == store_digest(catalog)


def test_the_bitmap_dropoff_grows_linearly_with_its_filters(catalogs: dict[str, StudyCatalog]) -> None:
    """32 filters of long lists (the attack: each re-stated once per later filter) compile to about 4 times the SQL
    of 8 such filters, not 16 times."""
    catalog = catalogs["xs"]
    index = StoreIndex("s", wide=True, unique_keys=True, participants=100)

    def size(filters: int) -> int:
        listed = {"dataset": "subjects", "column": "sex", "op": "in", "value": list(range(200))}
        spec = spec_validate({"filters": [listed] * filters}, catalog)
        return len(compile_dropoff(spec, catalog, "duckdb", index=index).sql)

    small, large = size(8), size(32)
    assert large / small <= 4.5, (small, large)
