"""The one reader of result and version files outside the engines (result pages, column statistics, lineage,
exports, the builder's value lists, catalog cells, analysis tables, record keys).

Every read takes a cursor on ONE DuckDB database per process (``parquet_reader()``), configured by the process's
budget (``core.budgets``): memory limit, threads, spill directory, no extension downloads. In the web process the
readers together stay within the DuckDB share that ``web_engine_slots`` private connections had, so the memory a
request can take is what it was; cursors are independent (one per read, one per thread). A forked process (a Celery
worker child) opens its own database on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from core.budgets import engine_budget, process_role, size_parse, size_text
from core.config import config_get

_lock = threading.Lock()
_state: dict[str, object] = {"pid": None, "database": None}


def _database() -> duckdb.DuckDBPyConnection:
    with _lock:
        if _state["pid"] != os.getpid() or _state["database"] is None:
            config = engine_budget().duckdb_config()
            if process_role() == "web":
                slots = max(1, int(config_get("web_engine_slots")))
                share = max(size_parse(config["memory_limit"]) // slots, 64_000_000)
                config["memory_limit"] = size_text(share * slots)
            _state["database"] = duckdb.connect(":memory:", config=config)
            _state["pid"] = os.getpid()
        database = _state["database"]
    assert isinstance(database, duckdb.DuckDBPyConnection)
    return database


@contextmanager
def parquet_reader() -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on this process's reader database, closed after the read."""
    cursor = _database().cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def parquet_columns(path: str | Path) -> list[str]:
    """The column names of a Parquet file, in file order."""
    return list(pq.read_schema(path).names)


def parquet_row_count(path: str | Path) -> int:
    """The number of rows of a Parquet file (from its footer)."""
    return int(pq.ParquetFile(path).metadata.num_rows)
