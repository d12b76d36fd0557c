"""Helpers for the Django-free ingest core tests (no database, no Django)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from datasets.ingest import IngestError, IngestOptions, IngestResult, ingest_csv

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
BAD = FIXTURES / "bad"
GOOD = FIXTURES / "good"


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def ingest(work_dir: Path) -> Callable[..., IngestResult]:
    """``ingest(path, **option_overrides)`` -> IngestResult (work_dir shared by the test)."""

    def run(path: Path, progress: Any = None, **options: Any) -> IngestResult:
        return ingest_csv(path, work_dir=work_dir, options=IngestOptions(**options), progress=progress)

    return run


@pytest.fixture
def reject(work_dir: Path) -> Callable[..., IngestError]:
    """``reject(path, **options)`` -> the IngestError, after checking nothing was left in work_dir."""

    def run(path: Path, **options: Any) -> IngestError:
        with pytest.raises(IngestError) as info:
            ingest_csv(path, work_dir=work_dir, options=IngestOptions(**options))
        assert list(work_dir.iterdir()) == [], "a rejected ingest must leave no files behind"
        assert str(path) not in info.value.message and str(work_dir) not in info.value.message
        return info.value

    return run


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def read_back(result: IngestResult) -> dict[str, list[Any]]:
    """The Parquet file as {column: values} (file order), read with DuckDB."""
    with duckdb.connect() as con:
        cursor = con.execute("SELECT * FROM read_parquet($p)", {"p": str(result.parquet_path)})
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    return {name: [row[i] for row in rows] for i, name in enumerate(columns)}
