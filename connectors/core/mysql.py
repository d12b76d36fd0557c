"""MySQL / MariaDB connector (PyMySQL): tables and views, read-only sessions, TLS verified by default.

The connector opens the TCP socket itself to the address the network policy checked and hands it to PyMySQL, so
the host name is used only for TLS verification. A server that offers no TLS when TLS was asked for is refused
(no silent downgrade).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pymysql
from pymysql.constants import CLIENT
from pymysql.cursors import SSCursor
from sqlglot import exp

from connectors.core.contract import Connector, Pulled, PullOptions, Source, SourceColumn
from connectors.core.contract_errors import ConnectorError
from connectors.core.network import resolve
from connectors.core.sql_base import PASSWORD_FIELDS, database_fields, order_columns, rows_to_csv

SSL_MODES = ("verify-full", "verify-ca", "require", "disable")
TLS_REFUSED = (
    "The TLS connection could not be verified (the server offers no TLS, or its certificate does not match the host "
    "name). Fix the server's certificate, or have a steward lower the TLS mode."
)


def quoted(name: str) -> str:
    """A MySQL identifier, always quoted (backticks doubled): names come from the server's own listing."""
    return "`" + name.replace("`", "``") + "`"


class MySQLConnector(Connector):
    kind = "mysql"
    title = "MySQL / MariaDB"
    config_fields = database_fields(3306, SSL_MODES, "verify-full")
    secret_fields = PASSWORD_FIELDS

    def _connect(self) -> pymysql.connections.Connection[Any]:
        host = str(self.config["host"])
        port = int(self.config["port"])
        address = resolve(self.context.network, host, port)
        mode = str(self.config["sslmode"])
        tls: dict[str, Any] = {}
        if mode != "disable":
            tls = {
                "ssl_ca": self.config.get("sslrootcert") or None,
                "ssl_verify_cert": mode in {"verify-full", "verify-ca"},
                "ssl_verify_identity": mode == "verify-full",
            }
            if mode == "require":
                tls["ssl"] = {"check_hostname": False}
        timeout = max(1, int(self.context.timeout_seconds))
        connection = pymysql.connect(
            host=host,
            port=port,
            user=str(self.config["user"]),
            password=str(self.secret.get("password") or ""),
            database=str(self.config["database"]),
            connect_timeout=timeout,
            read_timeout=timeout * 10,
            charset="utf8mb4",
            init_command="SET SESSION TRANSACTION READ ONLY",
            defer_connect=True,
            **tls,
        )
        try:
            sock = socket.create_connection((address, port), timeout=timeout)
        except OSError:
            raise ConnectorError("connection_failed", f"Could not connect to {host}:{port}.") from None
        try:
            connection.connect(sock)
        except pymysql.err.OperationalError as exc:
            sock.close()
            raise ConnectorError("connection_failed", _failure(exc, host, port)) from None
        except (OSError, pymysql.err.MySQLError):
            sock.close()
            raise ConnectorError(
                "connection_failed", TLS_REFUSED if tls else f"Could not connect to {host}:{port}."
            ) from None
        if tls and not (connection.server_capabilities & CLIENT.SSL):
            connection.close()
            raise ConnectorError("connection_failed", TLS_REFUSED)
        return connection

    def test(self) -> None:
        connection = self._connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        finally:
            connection.close()

    def sources(self) -> list[Source]:
        connection = self._connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s "
                    "ORDER BY table_name",
                    (self.config["database"],),
                )
                rows = cursor.fetchall()
        finally:
            connection.close()
        return [Source(name=str(name), kind="view" if kind == "VIEW" else "table") for name, kind in rows]

    def _columns(self, connection: pymysql.connections.Connection[Any], source: str) -> list[SourceColumn]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = %s ORDER BY ordinal_position",
                (self.config["database"], source),
            )
            rows = cursor.fetchall()
        if not rows:
            raise ConnectorError("source_not_found", f"The connection has no source named {source[:200]!r}.")
        return [SourceColumn(name=str(name), type=str(type_)) for name, type_ in rows]

    def columns(self, source: str) -> list[SourceColumn]:
        connection = self._connect()
        try:
            return self._columns(connection, source)
        finally:
            connection.close()

    def pull(self, source: str, destination: Path, options: PullOptions) -> Pulled:
        connection = self._connect()
        try:
            columns = self._columns(connection, source)
            table = exp.table_(
                exp.to_identifier(source, quoted=True), db=exp.to_identifier(str(self.config["database"]), quoted=True)
            )
            with connection.cursor() as cursor:
                cursor.execute(exp.select(exp.Count(this=exp.Star())).from_(table).sql("mysql"))
                total = int(cursor.fetchone()[0])
            query = (
                exp.select(*(exp.column(column.name, quoted=True) for column in columns))
                .from_(table)
                .order_by(*(exp.column(name, quoted=True) for name in order_columns(columns, options)))
            )
            connection.query("START TRANSACTION READ ONLY")
            with connection.cursor(SSCursor) as cursor:
                cursor.execute(query.sql("mysql"))
                return rows_to_csv(destination, columns, cursor.fetchmany, options, self.context.progress, total)
        finally:
            connection.close()


def _failure(exc: pymysql.err.OperationalError, host: str, port: int) -> str:
    code = exc.args[0] if exc.args else 0
    if code in {1044, 1045, 1698}:
        return "The database refused the user name or password."
    if code == 2026:  # TLS required, not offered or not verified
        return TLS_REFUSED
    if code == 1049:
        return "The database does not exist on that server."
    if code in {2003, 2013}:
        return f"Could not connect to {host}:{port}."
    return f"The database at {host}:{port} refused the connection."
