"""The one reader of result and version files outside the engines (result pages, column statistics, lineage,
exports, the builder's value lists, catalog cells, analysis tables, record keys). Interactive reads take
``timed_reader()``: one deadline for all their statements.

Every read takes a cursor on ONE DuckDB database per process (``parquet_reader()``), configured by the process's
budget (``core.budgets``): memory limit, threads, spill directory, no extension downloads. In the web process the
readers together stay within the DuckDB share that ``web_engine_slots`` private connections had, so the memory a
request can take is what it was; cursors are independent (one per read, one per thread). A forked process (a Celery
worker child) opens its own database on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from core.budgets import engine_budget, process_role, size_parse, size_text
from core.config import config_get
from core.errors import ApiError

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


#: How long one interactive read may take (a result page, a final summary, an export's files, a value search): it
#: holds an engine slot of the web process, so it is stopped past this (504 ``timeout``) like a count past its limit.
READ_TIMEOUT_SECONDS = 120.0


class ReadTimeout(ApiError):
    """504 ``timeout``: an interactive read took longer than :data:`READ_TIMEOUT_SECONDS`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            504, "timeout", f"Reading the data took longer than {seconds:g} s and was stopped. Retry in a moment."
        )


class TimedReader:
    """Statements on this process's Parquet reader within one deadline for all of them: a statement still running
    at the deadline is interrupted (DuckDB), and none starts after it; both raise :class:`ReadTimeout`."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, seconds: float) -> None:
        self._cursor = cursor
        self._seconds = seconds
        self._expired = threading.Event()

    def expire(self) -> None:
        """The deadline passed: stop the running statement (called from the timer thread)."""
        self._expired.set()
        with suppress(duckdb.Error):  # the read may have just ended and closed its cursor
            self._cursor.interrupt()

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """All rows of ``sql`` (bounded by the statement itself)."""
        if self._expired.is_set():
            raise ReadTimeout(self._seconds)
        try:
            return self._cursor.execute(sql, params).fetchall()
        except duckdb.InterruptException as exc:
            raise ReadTimeout(self._seconds) from exc

    def fetchone(self, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None


@contextmanager
def timed_reader(seconds: float | None = None) -> Iterator[TimedReader]:
    """A :class:`TimedReader` whose deadline is ``seconds`` (default :data:`READ_TIMEOUT_SECONDS`) from now."""
    limit = READ_TIMEOUT_SECONDS if seconds is None else seconds
    with parquet_reader() as cursor:
        reader = TimedReader(cursor, limit)
        timer = threading.Timer(limit, reader.expire)
        timer.daemon = True
        timer.start()
        try:
            yield reader
        finally:
            timer.cancel()


def parquet_columns(path: str | Path) -> list[str]:
    """The column names of a Parquet file, in file order."""
    return list(pq.read_schema(path).names)


def parquet_row_count(path: str | Path) -> int:
    """The number of rows of a Parquet file (from its footer)."""
    return int(pq.ParquetFile(path).metadata.num_rows)
