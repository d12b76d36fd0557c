"""Re-running a spec writes byte-identical Parquet files (sha256), on each engine, even from a new engine."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from queries.core.catalog import StudyCatalog
from queries.core.engines.contract import DataEngine
from queries.core.engines.duckdb_engine import DuckDBEngine
from queries.core.engines.postgres_engine import PostgresEngine
from queries.core.spec import spec_validate
from tests.queries_core.conftest import PG_SCHEMA

SPECS: list[tuple[str, dict[str, Any]]] = [
    ("xs", {"columns": {"behaviour": ["task", "rt", "file_row_number"], "cognitive": ["score"]}}),
    ("rk", {"columns": {"cog": ["working_memory", "weight"], "flanker": ["acc"]}}),
    ("rk", {"shape": "wide", "columns": {"cog": ["working_memory", "weight"]}, "consolidate_baseline": True}),
]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("study", "spec"), SPECS)
def test_reruns_are_byte_identical(
    engine: DataEngine, catalogs: dict[str, StudyCatalog], tmp_path: Path, study: str, spec: dict[str, Any]
) -> None:
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    engine.run(spec_validate(spec, catalogs[study]), catalogs[study], first)
    engine.run(spec_validate(spec, catalogs[study]), catalogs[study], second)
    assert sha(first) == sha(second)


def test_new_engines_reproduce_the_file(catalogs: dict[str, StudyCatalog], tmp_path: Path, pg_dsn: str) -> None:
    spec = SPECS[0][1]
    digests = set()
    for i in range(2):
        engine = DuckDBEngine(threads=1 + i)
        engine.run(spec_validate(spec, catalogs["xs"]), catalogs["xs"], tmp_path / f"d{i}.parquet")
        engine.close()
        digests.add(sha(tmp_path / f"d{i}.parquet"))
    assert len(digests) == 1
    pg_digests = set()
    for i in range(2):
        pg = PostgresEngine(pg_dsn, schema=PG_SCHEMA, batch_size=3)
        pg.run(spec_validate(spec, catalogs["xs"]), catalogs["xs"], tmp_path / f"p{i}.parquet")
        pg.close()
        pg_digests.add(sha(tmp_path / f"p{i}.parquet"))
    assert len(pg_digests) == 1


def test_larger_parallel_duckdb_output_is_deterministic(heavy: StudyCatalog, tmp_path: Path) -> None:
    engine = DuckDBEngine(threads=2)
    for name in ("a", "b"):
        engine.run(spec_validate({}, heavy), heavy, tmp_path / f"{name}.parquet")
    assert sha(tmp_path / "a.parquet") == sha(tmp_path / "b.parquet")
