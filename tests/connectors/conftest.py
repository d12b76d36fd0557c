"""Connector tests: real source servers (a PostgreSQL database of its own on the suite's server, MariaDB, the S3
protocol server, recorded REDCap/LORIS conversations over HTTP); every test gets its own storage root."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django_tenants.utils import tenant_context

from tests.conftest import ApiClient


@pytest.fixture(autouse=True)
def _own_storage_root(isolated_media: None) -> None:
    """Every test here gets its own storage root."""


def _server() -> dict[str, Any]:
    database = settings.DATABASES["default"]
    return {
        "host": database.get("HOST") or "127.0.0.1",
        "port": int(database.get("PORT") or 5432),
        "user": database.get("USER") or "postgres",
        "password": database.get("PASSWORD") or "",
    }


DEMOGRAPHICS = [
    ("p01", "1", 34, "F"),
    ("p01", "2", 35, "F"),
    ("p02", "1", 51, "M"),
    ("p03", "1", 27, "F"),
    ("p04", "1", 62, "M"),
]
SCORES = [("p01", "1", 12.5), ("p01", "2", 14.0), ("p02", "1", 9.0), ("p03", "1", 20.25), ("p04", "1", 7.5)]


@pytest.fixture(scope="session")
def source_pg(django_db_setup: None) -> Iterator[dict[str, Any]]:
    """A separate database on the suite's PostgreSQL server holding a demographics table, a measure table and a
    view; yields its connection config (for ``POST /connections``) and a ``sql(statement, params)`` helper."""
    server = _server()
    name = f"{settings.DATABASES['default']['NAME']}_src"[:63]
    admin = psycopg.connect(**{**server, "dbname": "postgres"}, autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(**server, dbname=name, autocommit=True) as source:
        source.execute("CREATE TABLE demographics (participant_id text, session text, age integer, sex text)")
        source.execute("CREATE TABLE memory_scores (participant_id text, session text, score numeric(6,2))")
        source.execute("CREATE VIEW adults AS SELECT * FROM demographics WHERE age >= 30")
        with source.cursor() as cursor:
            cursor.executemany("INSERT INTO demographics VALUES (%s, %s, %s, %s)", DEMOGRAPHICS)
            cursor.executemany("INSERT INTO memory_scores VALUES (%s, %s, %s)", SCORES)

    def sql(statement: str, params: Any = None) -> None:
        with psycopg.connect(**server, dbname=name, autocommit=True) as source:
            source.execute(statement, params)

    config = {
        "host": server["host"],
        "port": server["port"],
        "database": name,
        "user": server["user"],
        "sslmode": "disable",
    }
    # The suite's server may trust local connections; a password is sent all the same (and must stay secret).
    secret = {"password": server["password"] or "source-password-9f2c"}
    yield {"config": config, "secret": secret, "sql": sql, "name": name}
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def pg_connection(steward_api: ApiClient, source_pg: dict[str, Any]) -> dict[str, Any]:
    """A connection to the source database created through the API (TLS lowered: the local server has none)."""
    response = steward_api.post(
        "/api/v1/connections",
        {"name": "clinic", "kind": "postgresql", "config": source_pg["config"], "secret": source_pg["secret"]},
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def run_sync(steward_api: ApiClient, tenant_a: Any) -> Callable[..., dict[str, Any]]:
    """``run_sync(sync_id)``: start a run through the API and execute it in this process (the worker path has its
    own test); returns the sync as ``GET /syncs/{id}`` shows it afterwards."""
    from connectors.runs import sync_run_execute

    def _run(sync_id: int, client: ApiClient | None = None) -> dict[str, Any]:
        caller = client or steward_api
        response = caller.post(f"/api/v1/syncs/{sync_id}/run")
        assert response.status_code == 202, response.content
        body = response.json()
        assert body["ingest"]["status"] == "queued"
        with tenant_context(tenant_a):
            sync_run_execute(body["id"])
        connection.set_schema_to_public()
        return caller.get(f"/api/v1/syncs/{sync_id}").json()

    return _run


def source_host(url: str) -> str:
    return urlsplit(url).hostname or ""
