"""Source databases for the connector tests (registered for every test in tests/conftest.py): databases of their
own on the suite's PostgreSQL server, created once per session and dropped at its end."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
import pytest
from django.conf import settings
from psycopg import sql


def source_server() -> dict[str, Any]:
    database = settings.DATABASES["default"]
    return {
        "host": database.get("HOST") or "127.0.0.1",
        "port": int(database.get("PORT") or 5432),
        "user": database.get("USER") or "postgres",
        "password": database.get("PASSWORD") or "",
    }


Table = tuple[str, Sequence[tuple[str, str]], Sequence[Sequence[Any]]]


def source_database(suffix: str, tables: Sequence[Table]) -> Iterator[dict[str, Any]]:
    """Create ``<test database>_<suffix>`` holding ``tables`` ((name, [(column, type)], rows)); yields the
    connection config and secret for ``POST /connections`` and a ``sql(statement, params)`` helper; drops it."""
    server = source_server()
    name = f"{settings.DATABASES['default']['NAME']}_{suffix}"[:63]
    admin = psycopg.connect(**{**server, "dbname": "postgres"}, autocommit=True)
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(**server, dbname=name, autocommit=True) as source:
        for table, columns, rows in tables:
            source.execute(
                sql.SQL("CREATE TABLE {} ({})").format(
                    sql.Identifier(table),
                    sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(type_))  # types are the suite's own
                        for column, type_ in columns
                    ),
                )
            )
            insert = sql.SQL("INSERT INTO {} VALUES ({})").format(
                sql.Identifier(table), sql.SQL(", ").join(sql.Placeholder() for _ in columns)
            )
            with source.cursor() as cursor:
                cursor.executemany(insert, rows)

    def run_sql(statement: str, params: Any = None) -> None:
        with psycopg.connect(**server, dbname=name, autocommit=True) as source:
            source.execute(statement, params)  # the suite's own statements

    config = {
        "host": server["host"],
        "port": server["port"],
        "database": name,
        "user": server["user"],
        "sslmode": "disable",
    }
    # The suite's server may trust local connections; a password is sent all the same (and must stay secret).
    secret = {"password": server["password"] or "source-password-9f2c"}
    yield {"config": config, "secret": secret, "sql": run_sql, "name": name}
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()


DEMOGRAPHICS = [
    ("p01", "1", 34, "F"),
    ("p01", "2", 35, "F"),
    ("p02", "1", 51, "M"),
    ("p03", "1", 27, "F"),
    ("p04", "1", 62, "M"),
]
SCORES = [("p01", "1", 12.5), ("p01", "2", 14.0), ("p02", "1", 9.0), ("p03", "1", 20.25), ("p04", "1", 7.5)]
KEYS = [("participant_id", "text"), ("session", "text")]


@pytest.fixture(scope="session")
def source_pg(django_db_setup: None) -> Iterator[dict[str, Any]]:
    """A separate database with a demographics table, a measure table (memory_scores) and a view (adults)."""
    tables: list[Table] = [
        ("demographics", [*KEYS, ("age", "integer"), ("sex", "text")], DEMOGRAPHICS),
        ("memory_scores", [*KEYS, ("score", "numeric(6,2)")], SCORES),
    ]
    generator = source_database("src", tables)
    source = next(generator)
    source["sql"]("CREATE VIEW adults AS SELECT * FROM demographics WHERE age >= 30")
    yield source
    next(generator, None)


SourceFactory = Callable[[str, Sequence[Table]], Iterator[dict[str, Any]]]
