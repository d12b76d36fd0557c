"""A participant index store whose pre-joined table does not fit the build's memory budget: the build falls back to
one table per version (whether DuckDB runs out of memory while joining or when it commits the joined table), and
counts, reports and drop-offs on that store answer exactly as over the Parquet views."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pytest

from queries.core.catalog import ColumnInfo, DatasetInfo, DatasetKind, StudyCatalog, StudyKeys
from queries.core.engines.duckdb_engine import DuckDBEngine
from queries.core.engines.participant_store import StoreLocation, store_build
from queries.core.spec import spec_validate
from tests.queries_core.studies import sha256_file

PARTICIPANTS = 20_000
MEASURES = 5
COLUMNS = 20

SPEC = {
    "filters": [
        {"dataset": "demographics", "column": "age", "op": "between", "value": [20, 60]},
        {"dataset": "m1", "column": "v03", "op": "gte", "value": 10},
        {"dataset": "m2", "column": "v07", "op": "lt", "value": 75},
        {"dataset": "demographics", "column": "sex", "op": "eq", "value": "F"},
    ]
}


@pytest.fixture(scope="module")
def wide_study(tmp_path_factory: pytest.TempPathFactory) -> StudyCatalog:
    """20,000 participants x 3 sessions: demographics and 5 measure tables x 20 float columns (one row per merge
    key, so the study allows the pre-joined layout; about 60,000 x 105 values joined)."""
    folder = tmp_path_factory.mktemp("wide-budget")
    base = f"FROM range({PARTICIPANTS}) t(i), (VALUES ('BAS1', 0), ('FU1', 1), ('FU2', 2)) v(s, sv) ORDER BY i, sv"
    key = "lpad(CAST(i AS VARCHAR), 6, '0') AS participant_id, s AS session"
    keys = (ColumnInfo("participant_id", "string"), ColumnInfo("session", "string"))
    selects: dict[str, tuple[str, tuple[ColumnInfo, ...]]] = {
        "demographics": (
            f"SELECT {key}, 8 + (hash(i) % 770) / 10.0 + sv AS age, "
            f"CASE WHEN hash(i * 3) % 2 = 0 THEN 'F' ELSE 'M' END AS sex {base}",
            (*keys, ColumnInfo("age", "float"), ColumnInfo("sex", "string")),
        )
    }
    for k in range(1, MEASURES + 1):
        values = ", ".join(
            f"CASE WHEN hash(i * {97 + c} + sv * {k}) % 29 = 0 THEN NULL "
            f"ELSE round((hash(i * {k * 31 + c} + sv) % 10000) / 100.0, 1) END AS v{c:02d}"
            for c in range(1, COLUMNS + 1)
        )
        selects[f"m{k}"] = (
            f"SELECT {key}, {values} {base}",
            (*keys, *(ColumnInfo(f"v{c:02d}", "float") for c in range(1, COLUMNS + 1))),
        )
    datasets = {}
    with duckdb.connect() as con:
        for name, (select, columns) in selects.items():
            path = folder / f"{name}.parquet"
            con.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")
            kind: DatasetKind = "demographics" if name == "demographics" else "measure"
            datasets[name] = DatasetInfo(name, kind, 1, sha256_file(path), columns, str(path))
    return StudyCatalog(
        StudyKeys("participant_id", "session", age_column="age", sex_column="sex"), "demographics", datasets
    )


def _layout(path: Path) -> tuple[str, bool]:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute("SELECT layout, unique_keys FROM meta").fetchone()
    assert row is not None
    return str(row[0]), bool(row[1])


def test_with_room_the_study_gets_the_pre_joined_table(wide_study: StudyCatalog, tmp_path: Path) -> None:
    path, wrote = store_build(tmp_path, wide_study, memory_limit="512MB", threads=1)
    assert wrote and _layout(path) == ("wide", True)


@pytest.mark.parametrize("memory_limit", ["48MB", "96MB"], ids=["join-out-of-memory", "commit-out-of-memory"])
def test_a_pre_joined_table_over_the_budget_falls_back_to_one_table_per_version(
    wide_study: StudyCatalog, tmp_path: Path, memory_limit: str, caplog: pytest.LogCaptureFixture
) -> None:
    """48 MB: the joins run out of memory; 96 MB: they finish and the commit of the joined table cannot allocate
    its blocks (DuckDB reports a failed commit). Either way the store is built, whole, in the other layout."""
    with caplog.at_level(logging.WARNING, logger="queries.core.engines.participant_store"):
        path, wrote = store_build(
            tmp_path, wide_study, memory_limit=memory_limit, threads=1, temp_directory=tmp_path / "spill"
        )
    assert wrote and _layout(path) == ("tables", False)
    assert any("did not fit in memory" in record.getMessage() for record in caplog.records)
    assert [p.name for p in tmp_path.iterdir() if p.name != "spill"] == [path.name]  # no scratch file left

    parquet = DuckDBEngine(memory_limit="512MB", threads=2, timeout_s=60)
    stored = DuckDBEngine(memory_limit="512MB", threads=2, timeout_s=60, store=StoreLocation(tmp_path))
    spec = spec_validate(SPEC, wide_study)
    for method in ("count", "steps", "dropoff"):
        assert getattr(stored, method)(spec, wide_study) == getattr(parquet, method)(spec, wide_study), method
        assert stored.index_used == path.stem
