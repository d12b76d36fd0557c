"""DuckDB engine: reads the pinned Parquet files directly.

One in-memory DuckDB database per process and configuration (memory limit, threads, temp directory), created
lazily and shared by every engine in the process; each engine works on its own cursor (a separate DuckDB
connection to that database), so ``interrupt`` stops only that engine's statement and web threads never share a
connection. Creating and closing a cursor costs microseconds, where a new database cost tens of milliseconds.

Each dataset version is registered once per database as a view named ``physical_table_name(dataset)`` (content
addressed: name, version, sha256) over ``read_parquet`` (the path is handed to DuckDB's API, never spliced into
SQL) exposing ``c<i>`` = the catalog's i-th column cast to its catalog type, plus ``__row`` = DuckDB's
``file_row_number`` (0-based row in the file). Results are written with ``COPY (query) TO path (FORMAT parquet)``.
Memory limit and threads are database settings (constructor arguments, from the platform's settings); extensions
are never auto-installed or auto-loaded.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Any, ClassVar

import duckdb
import pyarrow.parquet as pq
from sqlglot import exp

from queries.catalog import ROW_ORDINAL, ColumnType, DatasetInfo, StudyCatalog, physical_table_name
from queries.compiler import Dialect
from queries.engines.base import EngineError
from queries.engines.runner import Interruption, SqlEngine

logger = logging.getLogger(__name__)

_DUCKDB_TYPES: dict[ColumnType, str] = {
    "integer": "BIGINT",
    "float": "DOUBLE",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}
_GLOB_CHARS = set("*?[]{}")


def _quote(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


@dataclass
class _SharedDatabase:
    """A process-wide DuckDB database and the dataset views registered in it."""

    con: duckdb.DuckDBPyConnection
    lock: threading.Lock = field(default_factory=threading.Lock)
    views: dict[str, tuple[object, ...]] = field(default_factory=dict)  # view name -> what it was built from


_databases: dict[tuple[int, str, int, str | None], _SharedDatabase] = {}
_databases_lock = threading.Lock()
_inherited: list[_SharedDatabase] = []  # a parent's databases after fork: unusable, and never closed by the child


def _shared_database(memory_limit: str, threads: int, temp_directory: str | None) -> _SharedDatabase:
    """The process's database for this configuration (a forked child never reuses its parent's)."""
    key = (os.getpid(), memory_limit, threads, temp_directory)
    with _databases_lock:
        shared = _databases.get(key)
        if shared is None:
            for stale in [k for k in _databases if k[0] != key[0]]:
                _inherited.append(_databases.pop(stale))
            config: dict[str, Any] = {
                "memory_limit": memory_limit,
                "threads": threads,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "preserve_insertion_order": True,
            }
            if temp_directory is not None:
                config["temp_directory"] = temp_directory
            shared = _databases[key] = _SharedDatabase(duckdb.connect(":memory:", config=config))
        return shared


class DuckDBEngine(SqlEngine):
    dialect: ClassVar[Dialect] = "duckdb"
    limit_rows_in_sql: ClassVar[bool] = False  # COPY returns the row count; the cap is checked on it

    def __init__(
        self,
        *,
        memory_limit: str = "1GB",
        threads: int = 2,
        timeout_s: float | None = None,
        max_rows: int | None = None,
        temp_directory: str | os.PathLike[str] | None = None,
        max_wide_columns: int | None = 10_000,
    ) -> None:
        super().__init__(timeout_s=timeout_s, max_rows=max_rows, max_wide_columns=max_wide_columns)
        temp = None if temp_directory is None else os.fspath(temp_directory)
        self._shared = _shared_database(str(memory_limit), int(threads), temp)
        with self._shared.lock:
            self._con = self._shared.con.cursor()

    def close(self) -> None:
        """Close this engine's cursor (the shared database stays open for the next engine)."""
        self._con.close()

    def _interrupt(self) -> None:
        self._con.interrupt()

    def _classify(self, exc: BaseException) -> Interruption | None:
        return "interrupt" if isinstance(exc, duckdb.InterruptException) else None

    def _prepare(self, catalog: StudyCatalog, datasets: Sequence[DatasetInfo]) -> None:
        for ds in datasets:
            self._register(ds)

    def _register(self, ds: DatasetInfo) -> None:
        view = physical_table_name(ds)
        path = ds.parquet_path
        try:
            if not path or _GLOB_CHARS & set(path):
                raise FileNotFoundError(path)
            stat = os.stat(path)
            if not S_ISREG(stat.st_mode):
                raise FileNotFoundError(path)
        except OSError as exc:
            raise EngineError(f"The data file of dataset {ds.name!r} (version {ds.version}) is unavailable.") from exc
        # What the view was built from: the file (as it is now) and the catalog columns it maps.
        source = (path, stat.st_size, stat.st_mtime_ns, tuple((c.name, c.type) for c in ds.columns))
        if self._shared.views.get(view) == source:
            return
        with self._shared.lock:
            if self._shared.views.get(view) != source:
                self._create_view(view, path, ds)
                self._shared.views[view] = source

    def _create_view(self, view: str, path: str, ds: DatasetInfo) -> None:
        try:
            file_names = pq.read_schema(path).names
        except Exception as exc:
            logger.warning("unreadable parquet for %s v%s: %s", ds.name, ds.version, exc)
            raise EngineError(f"The data file of dataset {ds.name!r} (version {ds.version}) is unreadable.") from exc
        relation = self._con.read_parquet(path)
        duck_names = relation.columns  # file order; DuckDB renames case-insensitive duplicates (age -> age_1)
        exprs = []
        for i, col in enumerate(ds.columns):
            if col.name not in file_names:
                raise EngineError(f"The data file of dataset {ds.name!r} does not match its registered columns.")
            source = _quote(duck_names[file_names.index(col.name)])
            exprs.append(f"CAST({source} AS {_DUCKDB_TYPES[col.type]}) AS {_quote(f'c{i}')}")
        shadowed = any(n.lower() == "file_row_number" for n in duck_names)
        # A real column called file_row_number hides DuckDB's virtual one; then number the (order-preserving) scan.
        ordinal = "(ROW_NUMBER() OVER () - 1)" if shadowed else "file_row_number"
        exprs.append(f"{ordinal} AS {_quote(ROW_ORDINAL)}")
        relation.project(", ".join(exprs)).create_view(view, replace=True)

    def _known_error(self, exc: BaseException) -> EngineError | None:
        if isinstance(exc, duckdb.OutOfMemoryException):
            return EngineError("The query needs more memory than this workspace allows.", code="out_of_memory")
        return None

    def _fetch_all(self, sql: str) -> list[tuple[Any, ...]]:
        return self._con.execute(sql).fetchall()

    def _write_parquet(
        self, sql: str, names: Sequence[str], types: Sequence[ColumnType], path: Path, max_rows: int | None
    ) -> int:
        target = exp.Literal.string(os.fspath(path)).sql("duckdb")
        copy = f"COPY ({sql}) TO {target} (FORMAT parquet, COMPRESSION zstd)"
        row = self._con.execute(copy).fetchone()
        return int(row[0]) if row else 0
