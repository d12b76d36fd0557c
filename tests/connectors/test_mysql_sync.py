"""MySQL/MariaDB: the suite's local MariaDB server (root over TCP) holds a source database of this run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from django.conf import settings

from connectors.core.mysql import quoted

MARIADB = {"host": os.environ.get("BDT_TEST_MARIADB_HOST", "127.0.0.1"), "port": 3306, "user": "root"}


@pytest.fixture(scope="module")
def source_mysql(django_db_setup: None) -> Iterator[dict[str, Any]]:
    try:
        admin = pymysql.connect(**MARIADB, password="", autocommit=True, connect_timeout=3)
    except pymysql.err.MySQLError:
        pytest.skip("no MariaDB server on 127.0.0.1:3306 (the CI script starts one)")
    name = f"{settings.DATABASES['default']['NAME']}_my"[:63]
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {quoted(name)}")
        cursor.execute(f"CREATE DATABASE {quoted(name)}")
        cursor.execute(f"USE {quoted(name)}")
        cursor.execute(
            "CREATE TABLE demographics (participant_id VARCHAR(10), session VARCHAR(4), age INT, sex CHAR(1))"
        )
        cursor.execute("CREATE TABLE `memory scores` (participant_id VARCHAR(10), session VARCHAR(4), score DOUBLE)")
        cursor.execute("CREATE VIEW adults AS SELECT * FROM demographics WHERE age >= 30")
        cursor.executemany(
            "INSERT INTO demographics VALUES (%s, %s, %s, %s)",
            [("p01", "1", 34, "F"), ("p02", "1", 51, "M"), ("p03", "1", 27, "F")],
        )
        cursor.executemany(
            "INSERT INTO `memory scores` VALUES (%s, %s, %s)",
            [("p01", "1", 12.5), ("p02", "1", 9.0), ("p03", "1", 20.0)],
        )

    def run_sql(statement: str, params: Any = None) -> None:
        with admin.cursor() as cursor:
            cursor.execute(f"USE {quoted(name)}")
            cursor.execute(statement, params)

    config = {"host": MARIADB["host"], "port": MARIADB["port"], "database": name, "user": "root", "sslmode": "disable"}
    yield {"config": config, "secret": {"password": ""}, "sql": run_sql}
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {quoted(name)}")
    admin.close()


def test_mariadb_tables_and_views_sync_with_versions_only_for_changes(
    steward_api: Any, make_study: Any, source_mysql: dict[str, Any], run_sync: Any
) -> None:
    created = steward_api.post(
        "/api/v1/connections", {"name": "registry", "kind": "mysql", "config": source_mysql["config"]}
    )
    assert created.status_code == 201, created.content
    connection_id = created.json()["id"]
    sources = steward_api.get(f"/api/v1/connections/{connection_id}/sources").json()["items"]
    assert sources == [
        {"name": "adults", "kind": "view"},
        {"name": "demographics", "kind": "table"},
        {"name": "memory scores", "kind": "table"},
    ]
    make_study("registry-study")
    syncs = {}
    for source, dataset, kind in (
        ("demographics", "demographics", "demographics"),
        ("memory scores", "memory", "measure"),
    ):
        response = steward_api.post(
            "/api/v1/studies/registry-study/syncs",
            {"connection": connection_id, "source": source, "dataset": dataset, "kind": kind},
        )
        assert response.status_code == 201, response.content
        syncs[dataset] = response.json()["id"]
        assert run_sync(syncs[dataset])["runs"][0]["status"] == "succeeded"

    source_mysql["sql"]("UPDATE `memory scores` SET score = 11.0 WHERE participant_id = 'p03'")
    changed = run_sync(syncs["memory"])["runs"][0]
    assert changed["status"] == "succeeded" and changed["diff"]["rows_changed"] == 1
    assert run_sync(syncs["memory"])["runs"][0]["status"] == "unchanged"


def test_mariadb_without_tls_is_refused_unless_the_steward_lowers_it(
    steward_api: Any, source_mysql: dict[str, Any]
) -> None:
    strict = {key: value for key, value in source_mysql["config"].items() if key != "sslmode"}
    response = steward_api.post("/api/v1/connections", {"name": "strict", "kind": "mysql", "config": strict})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "connection_failed" and "TLS" in response.json()["error"]["message"]
    wrong = {**source_mysql["config"], "user": "nobody_here"}
    response = steward_api.post(
        "/api/v1/connections", {"name": "wrong", "kind": "mysql", "config": wrong, "secret": {"password": "nope"}}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "connection_failed"
    assert steward_api.get("/api/v1/connections").json()["total"] == 0
