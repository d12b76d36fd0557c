"""What the SQL database connectors share: config fields, ordering and streaming rows into the CSV sink."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from connectors.core.contract import FieldSpec, Pulled, PullOptions, SourceColumn
from connectors.core.csv_sink import CsvSink

BATCH_ROWS = 5000


def database_fields(default_port: int, ssl_choices: tuple[str, ...], ssl_default: str) -> tuple[FieldSpec, ...]:
    return (
        FieldSpec("host", "Host", help="Name or address of the database server."),
        FieldSpec("port", "Port", kind="integer", required=False, default=default_port),
        FieldSpec("database", "Database"),
        FieldSpec("user", "User", help="A read-only account is best: the platform only reads."),
        FieldSpec(
            "sslmode",
            "TLS",
            kind="choice",
            required=False,
            default=ssl_default,
            choices=ssl_choices,
            help="Certificate and host name are verified by default; lowering it is recorded in the audit trail.",
        ),
        FieldSpec("sslrootcert", "CA certificate file", required=False, default="", help="Blank: the system's."),
    )


PASSWORD_FIELDS = (FieldSpec("password", "Password", required=False, default=""),)


def order_columns(columns: Sequence[SourceColumn], options: PullOptions) -> list[str]:
    """Rows are ordered by the study's key columns when the source has them (so an unchanged source gives the
    same bytes and no new version), otherwise by every column."""
    names = [column.name for column in columns]
    keys = [key for key in (options.id_column, options.session_column) if key]
    if keys and all(key in names for key in keys):
        return keys
    return names


def rows_to_csv(
    destination: Path,
    columns: list[SourceColumn],
    fetch: Callable[[int], Sequence[Sequence[Any]]],
    options: PullOptions,
    progress: Callable[[float, str], None],
    total: int | None = None,
) -> Pulled:
    """Fetch batches until one comes back empty and write them (progress by rows when the total is known)."""
    with CsvSink(destination, [column.name for column in columns], options.max_bytes) as sink:
        while True:
            batch = fetch(BATCH_ROWS)
            if not batch:
                break
            sink.write(batch)
            if total:
                progress(min(1.0, sink.rows / total), "pulling")
    return Pulled(path=destination, columns=columns, rows=sink.rows)
