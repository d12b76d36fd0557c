"""Fresh databases on the shared server for the backup and upgrade tests: created, used and dropped by the test.

``fresh_database(suffix, root)`` creates ``<test database>_<suffix>``, points Django's connection, storage
(``MEDIA_ROOT``), worker cache and work directory at it and at empty folders under ``root``, and on the way out
points everything back at the test database and drops the fresh one. Nothing else on the server is touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import override_settings
from psycopg import sql


def _admin_connect() -> psycopg.Connection:  # type: ignore[type-arg]
    params = connection.settings_dict
    return psycopg.connect(
        dbname="postgres",
        user=params.get("USER") or None,
        password=params.get("PASSWORD") or None,
        host=params.get("HOST") or None,
        port=str(params.get("PORT") or "") or None,
        autocommit=True,
    )


def database_create(name: str) -> None:
    with _admin_connect() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_drop(name: str) -> None:
    with _admin_connect() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _switch(name: str) -> None:
    connection.close()
    connection.settings_dict["NAME"] = name
    connection.set_schema_to_public()
    ContentType.objects.clear_cache()


@contextmanager
def database_used(name: str, root: Path) -> Iterator[str]:
    """Point the connection and storage at the existing database ``name`` and the folders under ``root``."""
    previous = connection.settings_dict["NAME"]
    folders = {key: root / key.lower() for key in ("MEDIA_ROOT", "BDT_CACHE_DIR", "BDT_WORK_DIR")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    _switch(name)
    try:
        with override_settings(**folders):
            yield name
    finally:
        _switch(previous)


@contextmanager
def fresh_database(suffix: str, root: Path) -> Iterator[str]:
    """A new empty database (and empty storage folders) for the duration of the block, dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_{suffix}"
    database_create(name)
    try:
        with database_used(name, root) as used:
            yield used
    finally:
        database_drop(name)
