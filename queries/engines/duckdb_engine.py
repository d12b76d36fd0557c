"""DuckDB engine: reads the pinned Parquet files directly.

Each dataset version is registered as a view named ``physical_table_name(dataset)`` over ``read_parquet`` (the path
is handed to DuckDB's API, never spliced into SQL) exposing ``c<i>`` = the catalog's i-th column cast to its catalog
type, plus ``__row`` = DuckDB's ``file_row_number`` (0-based row in the file). Results are written with
``COPY (query) TO path (FORMAT parquet)``. Memory limit and threads are per connection (constructor arguments, from
the platform's settings); extensions are never auto-installed or auto-loaded.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
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


class DuckDBEngine(SqlEngine):
    dialect: ClassVar[Dialect] = "duckdb"

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
        config: dict[str, Any] = {
            "memory_limit": str(memory_limit),
            "threads": int(threads),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "preserve_insertion_order": True,
        }
        if temp_directory is not None:
            config["temp_directory"] = os.fspath(temp_directory)
        self._con = duckdb.connect(":memory:", config=config)
        self._views: dict[str, str] = {}  # view name -> registered path

    def close(self) -> None:
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
        if self._views.get(view) == path:
            return
        if not path or _GLOB_CHARS & set(path) or not os.path.isfile(path):
            raise EngineError(f"The data file of dataset {ds.name!r} (version {ds.version}) is unavailable.")
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
        self._views[view] = path

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
