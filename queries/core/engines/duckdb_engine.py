"""DuckDB engine: reads the pinned Parquet files directly.

One in-memory DuckDB database per process and configuration (memory limit, threads, temp directory), created
lazily and shared by every engine in the process; each engine works on its own cursor (a separate DuckDB
connection to that database), so ``interrupt`` stops only that engine's statement and web threads never share a
connection. Creating and closing a cursor costs microseconds, where a new database cost tens of milliseconds.

Each dataset version is registered once per database as a view named ``physical_table_name(dataset)`` (content
addressed: name, version, sha256) over ``read_parquet`` (the path is handed to DuckDB's API, never spliced into
SQL) exposing ``c<i>`` = the catalog's i-th column cast to its catalog type, plus ``__row`` = DuckDB's
``file_row_number`` (0-based row in the file). Results are written with ``COPY (query) TO path (FORMAT parquet)``.
Memory limit, threads, the spill directory and its size cap are database settings (constructor arguments, from the
platform's process budget); extensions are never auto-installed or auto-loaded. Wide results wider than one
statement's budget are computed in column groups over long rows materialized once (``queries.core.compiler.wide``).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Any, ClassVar

import duckdb
import pyarrow.parquet as pq
from sqlglot import exp

from core.column_types import DUCKDB_TYPES, ColumnType
from queries.core.catalog import ROW_ORDINAL, DatasetInfo, StudyCatalog, physical_table_name
from queries.core.compiler import Dialect, compile_wide, compile_wide_numbered, plan_chunks, wide_chunk_size
from queries.core.compiler.wide import WidePlan
from queries.core.engines.contract import EngineError, ResourceLimit
from queries.core.engines.sql_engine import Interruption, SqlEngine
from queries.core.spec import ValidatedSpec

logger = logging.getLogger(__name__)

_GLOB_CHARS = set("*?[]{}")


def _quote(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


@dataclass
class _SharedDatabase:
    """A process-wide DuckDB database and the dataset views registered in it."""

    con: duckdb.DuckDBPyConnection
    lock: threading.Lock = field(default_factory=threading.Lock)
    views: dict[str, tuple[object, ...]] = field(default_factory=dict)  # view name -> what it was built from


_databases: dict[tuple[int, str, int, str | None, str | None], _SharedDatabase] = {}
_databases_lock = threading.Lock()
_inherited: list[_SharedDatabase] = []  # a parent's databases after fork: unusable, and never closed by the child


def _shared_database(
    memory_limit: str, threads: int, temp_directory: str | None, spill_limit: str | None
) -> _SharedDatabase:
    """The process's database for this configuration (a forked child never reuses its parent's)."""
    key = (os.getpid(), memory_limit, threads, temp_directory, spill_limit)
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
            if spill_limit is not None:
                config["max_temp_directory_size"] = spill_limit
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
        spill_limit: str | None = None,
        max_wide_columns: int | None = 10_000,
        max_cells: int | None = None,
        wide_budget_bytes: int | None = None,
    ) -> None:
        super().__init__(timeout_s=timeout_s, max_rows=max_rows, max_wide_columns=max_wide_columns, max_cells=max_cells)
        temp = None if temp_directory is None else os.fspath(temp_directory)
        self.memory_bytes = memory_bytes(str(memory_limit))
        # The aggregate states one wide statement may hold (default: half the memory limit); it sets the column groups.
        self.wide_budget_bytes = self.memory_bytes // 2 if wide_budget_bytes is None else int(wide_budget_bytes)
        self.threads = int(threads)
        self._shared = _shared_database(str(memory_limit), self.threads, temp, spill_limit)
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
            exprs.append(f"CAST({source} AS {DUCKDB_TYPES[col.type]}) AS {_quote(f'c{i}')}")
        shadowed = any(n.lower() == "file_row_number" for n in duck_names)
        # A real column called file_row_number hides DuckDB's virtual one; then number the (order-preserving) scan.
        ordinal = "(ROW_NUMBER() OVER () - 1)" if shadowed else "file_row_number"
        exprs.append(f"{ordinal} AS {_quote(ROW_ORDINAL)}")
        relation.project(", ".join(exprs)).create_view(view, replace=True)

    def _known_error(self, exc: BaseException) -> EngineError | None:
        if isinstance(exc, duckdb.OutOfMemoryException | MemoryError):
            return ResourceLimit()
        return None

    def _fetch_all(self, sql: str) -> list[tuple[Any, ...]]:
        return self._con.execute(sql).fetchall()

    def _write_parquet(
        self, sql: str, names: Sequence[str], types: Sequence[ColumnType], path: Path, max_rows: int | None
    ) -> int:
        return self._copy(sql, path)

    def _copy(self, sql: str, path: Path, columns: int | None = None) -> int:
        """``COPY (sql) TO path``; results with many ``columns`` get row groups small enough that the writer's
        buffer stays near :data:`ROW_GROUP_CELLS` values."""
        target = exp.Literal.string(os.fspath(path)).sql("duckdb")
        options = "FORMAT parquet, COMPRESSION zstd"
        if columns:
            options += f", ROW_GROUP_SIZE {max(MIN_ROW_GROUP, min(DEFAULT_ROW_GROUP, ROW_GROUP_CELLS // columns))}"
        row = self._con.execute(f"COPY ({sql}) TO {target} ({options})").fetchone()
        return int(row[0]) if row else 0

    def _write_wide(
        self, v: ValidatedSpec, catalog: StudyCatalog, plan: WidePlan, participants: int, path: Path, limit: int | None
    ) -> int:
        """One statement when the aggregate states fit the wide budget (default: half the memory limit); otherwise the
        long rows are numbered into a scratch Parquet file once, each column group is written from it, and the groups
        are joined back by position (every group has one row per participant, in the same id order)."""
        size = wide_chunk_size(participants, self.wide_budget_bytes, self.threads)
        chunks = plan_chunks(plan, size)
        width = len(plan.names)
        if len(chunks) == 1:
            return self._copy(compile_wide(v, catalog, "duckdb", plan, limit=limit), path, width)
        token = uuid.uuid4().hex
        scratch = [path.with_name(f"{path.name}.{token}.{i}.part") for i in range(len(chunks) + 1)]
        views = [f"wide_{token}_{i}" for i in range(len(scratch))]  # per call: the database is shared
        try:
            self._copy(compile_wide_numbered(v, catalog), scratch[0])
            self._checkpoint()
            self._con.read_parquet(os.fspath(scratch[0])).create_view(views[0])
            for chunk, part in zip(chunks, scratch[1:], strict=True):
                sql = compile_wide(v, catalog, "duckdb", chunk, limit=limit, real_names=False, rows_from=views[0])
                self._copy(sql, part, len(chunk.names))
                self._checkpoint()
            for view, part in zip(views[1:], scratch[1:], strict=True):
                self._con.read_parquet(os.fspath(part)).create_view(view)
            return self._copy(_positional_join(chunks, views[1:]), path, width)
        finally:
            for view in views:
                drop = exp.Drop(tables=[exp.Table(this=exp.to_identifier(view, quoted=True))], kind="VIEW", exists=True)
                self._con.execute(drop.sql("duckdb"))
            for part in scratch:
                part.unlink(missing_ok=True)


#: DuckDB's default Parquet row group, the smallest we ask for, and the values one row group should buffer.
DEFAULT_ROW_GROUP = 122_880
MIN_ROW_GROUP = 2_048
ROW_GROUP_CELLS = 4_000_000
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b\s*$", re.IGNORECASE)


def memory_bytes(text: str) -> int:
    """Bytes of a DuckDB memory setting such as ``3000MB`` or ``2GiB`` (0 when it cannot be read)."""
    match = _MEMORY.match(text)
    if match is None:
        return 0
    number, unit, binary = match.groups()
    return int(float(number) * (1024 if binary else 1000) ** "_kmgt".index(unit.lower() or "_"))


def _positional_join(chunks: Sequence[WidePlan], views: Sequence[str]) -> str:
    """The column groups (one view each) side by side: ``p0.o0`` is the id; ``p<i>.o<j>`` the j-th column of
    group i."""
    select = [exp.alias_(exp.column("o0", table="p0", quoted=True), chunks[0].id_column.name, quoted=True)]
    for i, chunk in enumerate(chunks):
        for j, column in enumerate(chunk.columns, start=1):
            select.append(exp.alias_(exp.column(f"o{j}", table=f"p{i}", quoted=True), column.name, quoted=True))
    query = exp.select(*select).from_(exp.to_table(views[0]).as_("p0", quoted=True))
    for i in range(1, len(views)):
        query = query.join(exp.Join(this=exp.to_table(views[i]).as_(f"p{i}", quoted=True), method="POSITIONAL"))
    return query.sql("duckdb", identify=True)
