"""PostgreSQL connector: tables and views, read-only sessions, TLS verified by default, connected by address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from connectors.core.contract import Connector, Pulled, PullOptions, Source, SourceColumn
from connectors.core.contract_errors import ConnectorError
from connectors.core.network import resolve
from connectors.core.sql_base import PASSWORD_FIELDS, database_fields, order_columns, rows_to_csv

SSL_MODES = ("verify-full", "verify-ca", "require", "prefer", "allow", "disable")
HIDDEN_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


class PostgreSQLConnector(Connector):
    kind = "postgresql"
    title = "PostgreSQL"
    config_fields = database_fields(5432, SSL_MODES, "verify-full")
    secret_fields = PASSWORD_FIELDS

    def _connect(self) -> psycopg.Connection[Any]:
        host = str(self.config["host"])
        port = int(self.config["port"])
        address = resolve(self.context.network, host, port)
        sslmode = str(self.config["sslmode"])
        params: dict[str, Any] = {
            "host": host,  # kept for TLS host name verification
            "hostaddr": address,  # the address the policy checked: libpq does not resolve again
            "port": port,
            "dbname": self.config["database"],
            "user": self.config["user"],
            "password": self.secret.get("password") or "",
            "sslmode": sslmode,
            "connect_timeout": max(1, int(self.context.timeout_seconds)),
            "application_name": "bdt-connector",
            "options": (
                "-c default_transaction_read_only=on "
                f"-c statement_timeout={int(self.context.timeout_seconds * 1000) * 10}"
            ),
        }
        if sslmode in {"verify-full", "verify-ca"}:
            params["sslrootcert"] = self.config.get("sslrootcert") or "system"
        try:
            connection = psycopg.connect(**params)
        except psycopg.OperationalError as exc:
            raise ConnectorError("connection_failed", _failure(exc, host, port)) from None
        connection.read_only = True  # every transaction is READ ONLY too
        return connection

    def test(self) -> None:
        with self._connect() as connection:
            connection.execute("SELECT 1")

    def sources(self) -> list[Source]:
        query = (
            "SELECT table_schema, table_name, table_type FROM information_schema.tables "
            "WHERE table_schema <> ALL(%s) AND table_schema NOT LIKE 'pg_temp%%' ORDER BY table_schema, table_name"
        )
        with self._connect() as connection:
            rows = connection.execute(query, (list(HIDDEN_SCHEMAS),)).fetchall()
        return [
            Source(name=_source_name(schema, table), kind="view" if kind == "VIEW" else "table")
            for schema, table, kind in rows
        ]

    def _columns(self, connection: psycopg.Connection[Any], source: str) -> list[SourceColumn]:
        schema, table = _split(source)
        rows = connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        ).fetchall()
        if not rows:
            raise ConnectorError("source_not_found", f"The connection has no source named {source[:200]!r}.")
        return [SourceColumn(name=name, type=type_) for name, type_ in rows]

    def columns(self, source: str) -> list[SourceColumn]:
        with self._connect() as connection:
            return self._columns(connection, source)

    def pull(self, source: str, destination: Path, options: PullOptions) -> Pulled:
        schema, table = _split(source)
        with self._connect() as connection:
            columns = self._columns(connection, source)
            total = connection.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            ).fetchone()
            query = sql.SQL("SELECT {} FROM {}.{} ORDER BY {}").format(
                sql.SQL(", ").join(sql.Identifier(column.name) for column in columns),
                sql.Identifier(schema),
                sql.Identifier(table),
                sql.SQL(", ").join(sql.Identifier(name) for name in order_columns(columns, options)),
            )
            with connection.transaction(), connection.cursor(name="bdt_pull") as cursor:
                cursor.execute(query)
                return rows_to_csv(
                    destination,
                    columns,
                    cursor.fetchmany,
                    options,
                    self.context.progress,
                    total=int(total[0]) if total else None,
                )


def _source_name(schema: str, table: str) -> str:
    """Tables of the ``public`` schema by their name alone, others as ``schema.table``."""
    return table if schema == "public" else f"{schema}.{table}"


def _split(source: str) -> tuple[str, str]:
    schema, dot, table = source.partition(".")
    return (schema, table) if dot else ("public", source)


def _failure(exc: psycopg.OperationalError, host: str, port: int) -> str:
    """A sentence for a failed connection (libpq's text names files and addresses: it is not passed on)."""
    text = str(exc).lower()
    if "password authentication failed" in text or "authentication" in text:
        return "The database refused the user name or password."
    if "does not exist" in text:
        return "The database or user does not exist on that server."
    if "ssl" in text or "certificate" in text:
        return (
            "The TLS connection could not be verified (the server offers no TLS, or its certificate does not match "
            "the host name). Fix the server's certificate, or have a steward lower the TLS mode."
        )
    if "timeout" in text:
        return f"The server {host}:{port} did not answer in time."
    return f"Could not connect to {host}:{port}."
