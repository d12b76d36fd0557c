"""One private in-memory DuckDB connection per ingest, with progress polling and cancellation.

Long statements run in a helper thread while the calling thread polls ``query_progress()`` and calls the
progress callback, so the callback always runs in the caller's thread (the Django layer's database connection and
tenant schema live there). If the callback raises (e.g. the job was cancelled), the statement is interrupted and
the exception propagates. Spill files go to a scratch directory the pipeline removes afterwards; extensions are
never downloaded.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb

POLL_SECONDS = 0.25


class DuckSession:
    def __init__(self, *, temp_dir: Path, threads: int | None = None, memory_limit: str | None = None) -> None:
        config: dict[str, str | bool | int | float | list[str]] = {
            "temp_directory": str(temp_dir),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "preserve_insertion_order": True,
        }
        if threads is not None:
            config["threads"] = threads
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        self.con = duckdb.connect(":memory:", config=config)
        self.con.execute("SET enable_progress_bar = true")
        self.con.execute("SET enable_progress_bar_print = false")
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-duckdb")

    def __enter__(self) -> DuckSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.con.close()

    def fetchall(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        on_progress: Callable[[float], None] | None = None,
    ) -> list[tuple[Any, ...]]:
        """Run ``sql`` and return all rows; ``on_progress`` gets 0..1 while it runs (in this thread)."""
        if on_progress is None:
            return self.con.execute(sql, params).fetchall()
        future = self._pool.submit(self._run, sql, params)
        while True:
            try:
                return future.result(timeout=POLL_SECONDS)
            except concurrent.futures.TimeoutError:
                pass
            try:
                fraction = self.con.query_progress()
                if fraction is not None and fraction >= 0:
                    on_progress(min(fraction, 100.0) / 100.0)
            except BaseException:
                self.con.interrupt()
                concurrent.futures.wait([future])
                raise

    def _run(self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None) -> tuple[Any, ...]:
        row = self.con.execute(sql, params).fetchone()
        if row is None:
            raise RuntimeError("query returned no row")
        return row
