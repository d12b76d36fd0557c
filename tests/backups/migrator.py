"""Migrating one schema to a given state, the way ``migrate_schemas`` does (django-tenants' router decides which
apps get tables in that schema), and handing back the historical models of that state to load data with.

Generic on purpose: "migrate to the oldest supported state (or to the migration before a data migration), load
data with that state's models, migrate forward with the real command, check with the current code".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from django.apps import apps as django_apps
from django.apps.registry import Apps
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from psycopg import sql

from backups.releases import OLDEST_SUPPORTED


def _platform_app(label: str) -> bool:
    """Whether ``label`` is one of the platform's own apps (its code is in this checkout, not a library's)."""
    path = Path(django_apps.get_app_config(label).path).resolve()
    base = Path(settings.BASE_DIR).resolve()
    return path.is_relative_to(base) and "site-packages" not in path.parts


def state_targets(state: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Migration targets for a whole-project state: the given apps at the given migrations, the platform's apps the
    state does not name not migrated at all (they came later), every other app at its latest migration (the
    libraries)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    targets: list[tuple[str, str | None]] = [(app, name) for app, name in state.items()]
    for app, name in loader.graph.leaf_nodes():
        if app not in state:
            targets.append((app, None) if _platform_app(app) else (app, name))
    return targets


def schema_migrate(schema: str, targets: list[tuple[str, str | None]]) -> Apps:
    """Migrate ``schema`` (it must exist) to ``targets``; returns the historical models of that state."""
    connection.set_schema(schema, include_public=False)
    MigrationRecorder(connection).ensure_schema()  # the schema's own django_migrations, not public's
    connection.set_schema(schema)
    executor = MigrationExecutor(connection)
    state = executor.migrate(targets)
    state.clear_delayed_apps_cache()
    return state.apps


def schema_state_apps(targets: list[tuple[str, str | None]]) -> Apps:
    """The historical models at ``targets`` (without touching the database)."""
    executor = MigrationExecutor(connection)
    return executor.loader.project_state(targets).apps


def baseline_targets() -> list[tuple[str, str | None]]:
    """The oldest supported release's state."""
    return state_targets(OLDEST_SUPPORTED)


@contextmanager
def scratch_schema(name: str) -> Iterator[str]:
    """A new empty schema in the current database for the block; dropped afterwards."""
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        cursor.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
