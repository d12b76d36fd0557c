"""Edge cases: empty results, key columns typed differently across datasets, concurrent PostgreSQL loading."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from queries.core.catalog import ColumnInfo, DatasetInfo, StudyCatalog, StudyKeys
from queries.core.engines.contract import DataEngine
from queries.core.engines.postgres_engine import PostgresEngine
from queries.core.spec import spec_validate

NOTHING = {"filters": [{"dataset": "rockland_demo", "column": "age", "op": "gt", "value": 1000}]}


@pytest.mark.parametrize("shape", ["long", "wide"])
def test_empty_results_still_have_their_columns(
    engine: DataEngine, catalogs: dict[str, StudyCatalog], tmp_path: Path, shape: str
) -> None:
    spec = {**NOTHING, "columns": {"cog": ["weight"]}, "shape": shape}
    assert engine.count(spec_validate(spec, catalogs["rk"]), catalogs["rk"]).participants == 0
    result = engine.run(spec_validate(spec, catalogs["rk"]), catalogs["rk"], tmp_path / "e.parquet")
    table = pq.read_table(tmp_path / "e.parquet")
    assert result.row_count == table.num_rows == 0
    assert table.column_names == list(result.columns)
    if shape == "long":
        assert table.column_names[:2] == ["ursi", "session_num"] and table.column_names[-1] == "cog.weight"
    else:  # no participant varies: every column is static
        assert table.column_names == ["ursi", "age", "sex", "all_studies", "height", "weight", "cog.weight"]


@pytest.fixture(scope="module")
def mixed_keys(tmp_path_factory: pytest.TempPathFactory) -> StudyCatalog:
    """Demographics ids are integers, the measure's ids are text: joined on the text form of both."""
    d = tmp_path_factory.mktemp("mixed")
    pq.write_table(pa.table({"id": pa.array([1, 2, 3], pa.int64()), "age": [20.5, 30.5, 40.5]}), d / "demo.parquet")
    pq.write_table(pa.table({"id": ["1", "2", "2", "x"], "score": [1.5, 2.5, 3.5, 9.0]}), d / "m.parquet")
    demo = DatasetInfo(
        "people",
        "demographics",
        1,
        "a",
        (ColumnInfo("id", "integer"), ColumnInfo("age", "float")),
        str(d / "demo.parquet"),
    )
    m = DatasetInfo(
        "m", "measure", 1, "b", (ColumnInfo("id", "string"), ColumnInfo("score", "float")), str(d / "m.parquet")
    )
    return StudyCatalog(StudyKeys("id"), "people", {"people": demo, "m": m})


def test_key_columns_of_different_types_still_join(
    engine: DataEngine, mixed_keys: StudyCatalog, tmp_path: Path
) -> None:
    spec = {"filters": [{"dataset": "m", "column": "score", "op": "gte", "value": 2}], "columns": {"m": ["score"]}}
    got = engine.count(spec_validate(spec, mixed_keys), mixed_keys)
    assert (got.participants, got.rows) == (1, 1)
    engine.run(spec_validate(spec, mixed_keys), mixed_keys, tmp_path / "k.parquet")
    assert pq.read_table(tmp_path / "k.parquet").to_pylist() == [
        {"id": 2, "age": 30.5, "score": 2.5},
        {"id": 2, "age": 30.5, "score": 3.5},
    ]


@pytest.fixture
def fresh_schema(pg_dsn: str) -> Iterator[str]:
    name = f"load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def test_concurrent_loads_of_one_version_load_it_once(
    pg_dsn: str, fresh_schema: str, catalogs: dict[str, StudyCatalog]
) -> None:
    ds = catalogs["rk"].datasets["cog"]
    engines = [PostgresEngine(pg_dsn, schema=fresh_schema, load_batch_size=2) for _ in range(3)]
    names: list[str] = []
    errors: list[BaseException] = []

    def load(e: PostgresEngine) -> None:
        try:
            names.append(e.ensure_loaded(ds, ["ursi", "session_num"]))
        except BaseException as exc:  # recorded for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors and len(set(names)) == 1
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(f'SELECT "__row" FROM "{fresh_schema}"."{names[0]}" ORDER BY 1').fetchall()
        indexes = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = %s AND tablename = %s", [fresh_schema, names[0]]
        ).fetchone()
    assert [r[0] for r in rows] == list(range(11))  # every row once, numbered in file order
    assert indexes == (1,)
    for e in engines:
        assert e.ensure_loaded(ds) == names[0]  # idempotent
        e.close()
