"""PostgreSQL engine: queries dataset versions loaded as tables into a (tenant) schema.

``ensure_loaded`` creates ``<schema>.<physical_table_name>`` (or ``DatasetInfo.pg_table``) when missing: typed
columns ``c<i>`` (the catalog's i-th column) + ``__row`` (0-based row in the Parquet file), filled with COPY from
pyarrow batches (CSV produced by Arrow, so memory stays flat), indexed on the merge key and analysed, all in one
transaction under an advisory lock, so concurrent workers load a version once and readers never see half a table.

Queries run with ``statement_timeout`` and ``work_mem`` (SET LOCAL) plus the shared watchdog; cancel uses libpq's
cancel request from another thread. Results stream from a server-side cursor in batches into a pyarrow
ParquetWriter; the output column names come from the compiler (PostgreSQL aliases are positional because identifiers
are capped at 63 bytes).
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from psycopg import sql

from core.column_types import ColumnType
from queries.core.catalog import ROW_ORDINAL, DatasetInfo, StudyCatalog, physical_table_name
from queries.core.compiler import Dialect
from queries.core.engines.contract import EngineError, EngineUnavailable, ResourceLimit
from queries.core.engines.sql_engine import Interruption, SqlEngine

logger = logging.getLogger(__name__)

_PG_TYPES: dict[ColumnType, str] = {
    "integer": "bigint",
    "float": "double precision",
    "string": "text",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}
ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    "integer": pa.int64(),
    "float": pa.float64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}

Connector = Callable[[], psycopg.Connection[Any]]


class PostgresEngine(SqlEngine):
    dialect: ClassVar[Dialect] = "postgres"

    def __init__(
        self,
        connect: str | Connector,
        *,
        schema: str,
        timeout_s: float | None = None,
        max_rows: int | None = None,
        batch_size: int = 10_000,
        load_batch_size: int = 65_536,
        max_wide_columns: int | None = 1_600,
        max_cells: int | None = None,
        work_mem: str | None = None,
    ) -> None:
        super().__init__(timeout_s=timeout_s, max_rows=max_rows, max_wide_columns=max_wide_columns, max_cells=max_cells)
        self.work_mem = work_mem
        if not schema:
            raise ValueError("schema is required")
        self.schema = schema
        self._pg_schema: str = schema
        self._connect: Connector = (lambda: psycopg.connect(connect)) if isinstance(connect, str) else connect
        self._conn: psycopg.Connection[Any] | None = None
        self._batch_size = batch_size
        self._load_batch_size = load_batch_size
        self._loaded: set[str] = set()
        self._conn_lock = threading.Lock()

    # --- connection -----------------------------------------------------------------------------------------
    def connection(self) -> psycopg.Connection[Any]:
        with self._conn_lock:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
                self._conn.autocommit = False
            return self._conn

    def close(self) -> None:
        with self._conn_lock:
            if self._conn is not None and not self._conn.closed:
                self._conn.close()
            self._conn = None

    def _interrupt(self) -> None:
        conn = self._conn
        if conn is not None and not conn.closed:
            conn.cancel_safe()

    def _classify(self, exc: BaseException) -> Interruption | None:
        if isinstance(exc, psycopg.errors.QueryCanceled):
            # Ours (cancel() or the watchdog) is an interrupt; any other cancellation is the server's
            # statement_timeout (server messages may be localized, so the text is not inspected).
            return "interrupt" if self._cancel_requested or self._timed_out else "timeout"
        return None

    def _known_error(self, exc: BaseException) -> EngineError | None:
        if isinstance(exc, psycopg.errors.OutOfMemory | psycopg.errors.DiskFull | MemoryError):
            return ResourceLimit("The query needed more memory or disk than the database allows and was stopped.")
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):  # server restarted, network lost
            return EngineUnavailable()
        if isinstance(exc, psycopg.errors.TooManyColumns | psycopg.errors.ProgramLimitExceeded):
            return EngineError("The result has too many columns for the database.", code="too_many_columns")
        return None

    def _set_timeout(self, conn: psycopg.Connection[Any]) -> None:
        """``SET LOCAL statement_timeout`` and ``work_mem`` (via set_config(..., is_local => true), which takes a
        bound value), both in one round trip. Without them the server's own defaults stay in force."""
        timeout = None if self.timeout_s is None else str(max(1, int(self.timeout_s * 1000)))
        if timeout is not None and self.work_mem is not None:
            conn.execute(
                "SELECT set_config('statement_timeout', %s, true), set_config('work_mem', %s, true)",
                [timeout, self.work_mem],
            )
        elif timeout is not None:
            conn.execute("SELECT set_config('statement_timeout', %s, true)", [timeout])
        elif self.work_mem is not None:
            conn.execute("SELECT set_config('work_mem', %s, true)", [self.work_mem])

    # --- loading --------------------------------------------------------------------------------------------
    def table_name(self, dataset: DatasetInfo) -> str:
        return dataset.pg_table or physical_table_name(dataset)

    def ensure_loaded(self, dataset: DatasetInfo, key_columns: Sequence[str] = ()) -> str:
        """Load ``dataset`` (its Parquet version) into the schema unless its table exists; return the table name.
        ``key_columns`` (the merge key) get an index."""
        table = self.table_name(dataset)
        if table in self._loaded:
            return table
        conn = self.connection()
        try:
            with conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"bdt:{self._pg_schema}.{table}"]
                )
                row = conn.execute(
                    "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL", [self._pg_schema, table]
                ).fetchone()
                if not (row and row[0]):
                    self._load(conn, dataset, table, key_columns)
        except EngineError:
            raise
        except psycopg.errors.QueryCanceled:
            raise
        except Exception as exc:
            logger.warning("loading %s v%s failed: %s: %s", dataset.name, dataset.version, type(exc).__name__, exc)
            raise EngineError(f"Dataset {dataset.name!r} (version {dataset.version}) could not be loaded.") from exc
        self._loaded.add(table)
        return table

    def _load(self, conn: psycopg.Connection[Any], ds: DatasetInfo, table: str, key_columns: Sequence[str]) -> None:
        path = ds.parquet_path
        if not path or not os.path.isfile(path):
            raise EngineError(f"The data file of dataset {ds.name!r} (version {ds.version}) is unavailable.")
        parquet = pq.ParquetFile(path)
        file_names = parquet.schema_arrow.names
        if any(c.name not in file_names for c in ds.columns):
            raise EngineError(f"The data file of dataset {ds.name!r} does not match its registered columns.")
        positions = [file_names.index(c.name) for c in ds.columns]
        physical = [f"c{i}" for i in range(len(ds.columns))] + [ROW_ORDINAL]
        ident = sql.Identifier(self._pg_schema, table)
        columns = [
            sql.SQL(" ").join([sql.Identifier(f"c{i}"), sql.SQL(_PG_TYPES[c.type])]) for i, c in enumerate(ds.columns)
        ]
        columns.append(sql.SQL(" ").join([sql.Identifier(ROW_ORDINAL), sql.SQL("bigint NOT NULL")]))
        conn.execute(
            sql.Composed([sql.SQL("CREATE TABLE "), ident, sql.SQL(" ("), sql.SQL(", ").join(columns), sql.SQL(")")])
        )
        names = sql.SQL(", ").join(sql.Identifier(n) for n in physical)
        copy = sql.Composed([sql.SQL("COPY "), ident, sql.SQL(" ("), names, sql.SQL(") FROM STDIN (FORMAT csv)")])
        offset = 0
        with conn.cursor() as cur, cur.copy(copy) as writer:
            for batch in parquet.iter_batches(batch_size=self._load_batch_size):
                arrays = [
                    pc.cast(batch.column(p), ARROW_TYPES[c.type], safe=c.type != "timestamp")
                    for p, c in zip(positions, ds.columns, strict=True)
                ]
                arrays.append(pa.array(range(offset, offset + batch.num_rows), pa.int64()))
                buffer = io.BytesIO()
                pcsv.write_csv(
                    pa.RecordBatch.from_arrays(arrays, names=physical), buffer, pcsv.WriteOptions(include_header=False)
                )
                writer.write(buffer.getvalue())
                offset += batch.num_rows
        keys = [i for i, c in enumerate(ds.columns) if c.name in key_columns]
        if keys:
            conn.execute(
                sql.Composed(
                    [
                        sql.SQL("CREATE INDEX ON "),
                        ident,
                        sql.SQL(" ("),
                        sql.SQL(", ").join(sql.Identifier(f"c{i}") for i in keys),
                        sql.SQL(")"),
                    ]
                )
            )
        conn.execute(sql.Composed([sql.SQL("ANALYZE "), ident]))

    def _prepare(self, catalog: StudyCatalog, datasets: Sequence[DatasetInfo]) -> None:
        keys = [k for k in (catalog.keys.id_column, catalog.keys.session_column) if k]
        for ds in datasets:
            self.ensure_loaded(ds, [k for k in keys if ds.has(k)])

    # --- queries --------------------------------------------------------------------------------------------
    def _fetch_all(self, query: str) -> list[tuple[Any, ...]]:
        conn = self.connection()
        with conn.transaction():
            self._set_timeout(conn)
            return conn.execute(query).fetchall()  # type: ignore[arg-type]

    def _write_parquet(
        self, query: str, names: Sequence[str], types: Sequence[ColumnType], path: Path, max_rows: int | None
    ) -> int:
        schema = pa.schema([pa.field(n, ARROW_TYPES[t]) for n, t in zip(names, types, strict=True)])
        conn = self.connection()
        count = 0
        started = time.monotonic()
        with conn.transaction():
            self._set_timeout(conn)
            with (
                conn.cursor(name=f"bdt_run_{uuid.uuid4().hex}") as cur,
                pq.ParquetWriter(path, schema, compression="zstd") as writer,
            ):
                cur.execute(query)  # type: ignore[arg-type]
                while rows := cur.fetchmany(self._batch_size):
                    count += len(rows)
                    if max_rows is not None and count > max_rows:
                        break
                    columns = list(zip(*rows, strict=True))
                    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
                    writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
        logger.debug("postgres run wrote %s rows in %.3fs", count, time.monotonic() - started)
        return count
