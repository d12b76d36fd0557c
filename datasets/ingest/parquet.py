"""The typed Parquet file: one DuckDB ``COPY`` from the CSV with the column types.

Either the types are known from a profile of every row (numeric, date and timestamp columns are then parsed as
their type directly by the CSV reader: every value is known to be in canonical form, so the reader's leniency
cannot change a value), or they were guessed from the first rows and each value is verified while writing.
Booleans are mapped with ``lower(v) IN ('true', 'yes')``. Columns keep their exact original names and order;
rows keep the file order. zstd compression (``options.compression_level``), row groups of
``options.row_group_size`` rows.
"""

# ruff: noqa: S608 - SQL text here only interpolates quote_ident() identifiers and module constants; values are parameters.

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from core.column_types import ColumnType
from datasets.ingest.csvparse import parse_error
from datasets.ingest.duck import DuckSession
from datasets.ingest.options import IngestOptions
from datasets.ingest.sql import read_csv_call
from datasets.ingest.types import TYPE_CHECK_FAILED, read_type, select_expression, verified_expression


def csv_params(csv_path: Path, columns: dict[str, str], options: IngestOptions) -> dict[str, object]:
    """Parameters of :func:`datasets.ingest.sql.read_csv_call` (``$path``, ``$columns``...)."""
    if options.delimiter is None:
        raise ValueError("the delimiter must be chosen before the file is read")
    return {
        "path": str(csv_path),
        "columns": columns,
        "delim": options.delimiter,
        "nullstr": ["", *options.missing_values],
        "max_line": options.max_line_bytes,
    }


class TypeGuessFailed(Exception):
    """A value later in the file does not fit a type guessed from the first rows (see ``write_parquet``)."""


def write_parquet(
    session: DuckSession,
    *,
    csv_path: Path,
    header: list[str],
    types: dict[str, ColumnType],
    options: IngestOptions,
    target: Path,
    verify: bool,
    on_progress: Callable[[float], None] | None = None,
) -> int:
    """Write ``target`` (which must not exist) from ``csv_path`` with the given column types; return the row count.

    ``verify=False``: the types come from a profile of every row, so typed columns are parsed by the CSV reader
    directly. ``verify=True``: the types were guessed from the first rows; every column is read as text and each
    value is checked against its type while writing, raising :class:`TypeGuessFailed` at the first misfit (the
    caller then profiles the whole file and calls again without ``verify``).
    """
    if verify:
        columns = dict.fromkeys(header, "VARCHAR")
        select = ", ".join(verified_expression(name, types[name]) for name in header)
    else:
        columns = {name: read_type(types[name]) for name in header}
        select = ", ".join(select_expression(name, types[name]) for name in header)
    row_group_size = int(options.row_group_size)
    level = int(options.compression_level)
    sql = (
        f"COPY (SELECT {select} FROM {read_csv_call('path', 'columns')}) TO $target "
        f"(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL {level}, ROW_GROUP_SIZE {row_group_size})"
    )
    params = {**csv_params(csv_path, columns, options), "target": str(target)}
    try:
        rows = session.fetchall(sql, params, on_progress=on_progress)
    except duckdb.InvalidInputException as exc:
        if TYPE_CHECK_FAILED in str(exc):
            raise TypeGuessFailed from None
        raise parse_error(exc, max_line_bytes=options.max_line_bytes, delimiter=options.delimiter) from None
    return int(rows[0][0])
