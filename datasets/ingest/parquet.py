"""The typed Parquet file: one DuckDB ``COPY`` from the CSV with the inferred types.

Numeric, date and timestamp columns are parsed as their type directly by the CSV reader (every value was verified
to be in canonical form by the profile pass, so the reader's leniency cannot change a value); booleans are read
as text and mapped with ``lower(v) IN ('true', 'yes')``. Columns keep their exact original names and order; rows
keep the file order. zstd compression, row groups of ``options.row_group_size`` rows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from datasets.ingest.csvparse import parse_error
from datasets.ingest.duck import DuckSession
from datasets.ingest.options import IngestOptions
from datasets.ingest.results import ColumnType
from datasets.ingest.sql import read_csv_call
from datasets.ingest.types import read_type, select_expression


def csv_params(csv_path: Path, columns: dict[str, str], options: IngestOptions) -> dict[str, object]:
    """Parameters of :func:`datasets.ingest.sql.read_csv_call` (``$path``, ``$columns``...)."""
    return {
        "path": str(csv_path),
        "columns": columns,
        "delim": options.delimiter,
        "nullstr": ["", *options.missing_values],
        "max_line": options.max_line_bytes,
    }


def write_parquet(
    session: DuckSession,
    *,
    csv_path: Path,
    header: list[str],
    types: dict[str, ColumnType],
    options: IngestOptions,
    target: Path,
    on_progress: Callable[[float], None] | None = None,
) -> None:
    """Write ``target`` (which must not exist) from ``csv_path`` with the given column types."""
    columns = {name: read_type(types[name]) for name in header}
    select = ", ".join(select_expression(name, types[name]) for name in header)
    row_group_size = int(options.row_group_size)
    sql = (
        f"COPY (SELECT {select} FROM {read_csv_call('path', 'columns')}) TO $target "
        f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {row_group_size})"
    )
    params = {**csv_params(csv_path, columns, options), "target": str(target)}
    try:
        session.fetchall(sql, params, on_progress=on_progress)
    except duckdb.InvalidInputException as exc:
        # The profile pass read the same bytes with the same dialect, so this only happens if the file changed.
        raise parse_error(exc, max_line_bytes=options.max_line_bytes) from None
