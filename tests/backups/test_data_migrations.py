"""Every migration that converts data gets a test with data: migrate a scratch schema to the migration before it,
load rows with that state's models, apply the migration with the real executor, check with the current code.

``test_every_data_migration_has_a_test`` finds the platform's migrations that touch data (RunPython, RunSQL, or an
AlterField that changes a column's database type) and fails for one without an entry in DATA_MIGRATION_TESTS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import AlterField, RunPython, RunSQL
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_event_digest
from audit.verification import audit_chain_verify
from queries.models import QueryRun, SavedQuery
from queries.spec import spec_hash
from tests.backups.migrator import schema_migrate, scratch_schema

SCHEMA = "t_migration_check"
# Submitted order "cognitive" then "flanker"; jsonb stores the shorter key first.
REORDERED = {"columns": {"cognitive": ["memory"], "flanker": ["accuracy"]}}
KEPT = {"columns": {"flanker": ["accuracy"], "cognitive": ["memory"]}}

DATA_MIGRATION_TESTS = {
    ("queries", "0003_spec_keeps_key_order"): "test_queries_0003_specs_survive_the_jsonb_to_text_conversion",
    ("audit", "0003_append_only_trigger"): "test_audit_0003_chains_survive_and_become_append_only",
}


@pytest.fixture
def scratch(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    with django_db_blocker.unblock(), scratch_schema(SCHEMA) as name:
        yield name


def _platform_migrations() -> Iterator[tuple[str, str, Any, Any]]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    root = Path(settings.BASE_DIR)
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        module = Path(__import__(migration.__module__, fromlist=["_"]).__file__ or "")
        if root in module.parents and ".venv" not in module.parts:
            yield app, name, migration, loader


def _touches_data(app: str, name: str, migration: Any, loader: MigrationLoader) -> bool:
    before = loader.project_state((app, name), at_end=False)
    for operation in migration.operations:
        if isinstance(operation, RunPython | RunSQL):
            return True
        if isinstance(operation, AlterField):
            old = before.models[app, operation.model_name_lower].fields[operation.name]
            if old.db_type(connection) != operation.field.db_type(connection):
                return True
    return False


def test_every_data_migration_has_a_test() -> None:
    found = {
        (app, name)
        for app, name, migration, loader in _platform_migrations()
        if _touches_data(app, name, migration, loader)
    }
    assert ("queries", "0003_spec_keeps_key_order") in found  # the detector sees a type-changing AlterField
    missing = sorted(found - set(DATA_MIGRATION_TESTS))
    assert missing == [], f"data migrations without a with-data test here: {missing}"
    for test_name in DATA_MIGRATION_TESTS.values():
        assert callable(globals().get(test_name)), test_name


def _column_type(table: str, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "AND column_name = %s",
            [SCHEMA, table, column],
        )
        return str(cursor.fetchone()[0])


def test_queries_0003_specs_survive_the_jsonb_to_text_conversion(scratch: str) -> None:
    apps = schema_migrate(scratch, [("queries", "0002_queryexport")])
    assert _column_type("queries_queryrun", "spec") == "jsonb"
    study = apps.get_model("datasets", "Study").objects.create(slug="memory", name="Memory", id_column="id")
    dataset = apps.get_model("datasets", "Dataset").objects.create(study=study, name="demographics")
    version = apps.get_model("datasets", "DatasetVersion").objects.create(
        dataset=dataset, number=1, sha256="a" * 64, parquet_sha256="b" * 64, original_filename="d.csv",
        original_file="tenants/x/original.csv", parquet_file="tenants/x/data.parquet", size_bytes=1,
        parquet_size_bytes=1, row_count=1,
    )  # fmt: skip
    old_run = apps.get_model("queries", "QueryRun")
    runs = {}
    for label, spec in (("reordered", REORDERED), ("kept", KEPT)):
        run = old_run.objects.create(
            study=study, spec=spec, spec_hash=spec_hash(spec), cache_key="c" * 64, engine="duckdb"
        )
        apps.get_model("queries", "QueryRunVersion").objects.create(
            run=run, version=version, dataset_name="demographics", number=1, sha256=version.sha256
        )
        runs[label] = run.pk
    apps.get_model("queries", "SavedQuery").objects.create(study=study, name="saved", spec=REORDERED, owner_id=1)
    # Before 0003 the order was already jsonb's: the shorter key first, whatever was submitted.
    assert list(old_run.objects.get(pk=runs["reordered"]).spec["columns"]) == ["flanker", "cognitive"]

    schema_migrate(scratch, [("queries", "0003_spec_keeps_key_order")])
    assert _column_type("queries_queryrun", "spec") == "text"
    assert _column_type("queries_savedquery", "spec") == "text"
    for label, spec in (("reordered", REORDERED), ("kept", KEPT)):
        run = QueryRun.objects.get(pk=runs[label])
        assert run.spec == spec  # the same JSON object (not a string), every value kept
        assert list(run.spec["columns"]) == ["flanker", "cognitive"]  # the order jsonb had stored
        assert [pin.sha256 for pin in run.pinned.all()] == ["a" * 64]  # lineage intact
    kept = QueryRun.objects.get(pk=runs["kept"])
    assert spec_hash(kept.spec) == kept.spec_hash  # a run whose order jsonb did not change keeps its hash
    assert SavedQuery.objects.get().spec == REORDERED
    # From 0003 on, what is written keeps its order.
    fresh = SavedQuery.objects.create(study_id=study.pk, name="new", spec=REORDERED, owner_id=1)
    assert list(SavedQuery.objects.get(pk=fresh.pk).spec["columns"]) == ["cognitive", "flanker"]


def test_audit_0003_chains_survive_and_become_append_only(scratch: str) -> None:
    apps = schema_migrate(scratch, [("audit", "0002_initial")])
    model = apps.get_model("audit", "AuditEvent")
    previous = ""
    for number in range(5):
        event = model(
            at=timezone.now(), action="study.created", target_id=str(number), details={"n": number}, prev_hash=previous
        )
        event.hash = audit_event_digest(event)  # type: ignore[arg-type]
        event.save(force_insert=True)
        previous = event.hash
    model.objects.filter(target_id="0").update(user_agent="")  # before 0003 nothing stopped an edit

    schema_migrate(scratch, [("audit", "0003_append_only_trigger")])
    report = audit_chain_verify()
    assert report.ok and report.events == 5
    assert AuditEvent.objects.order_by("-id").first().hash == previous  # type: ignore[union-attr]
    for statement in ("UPDATE audit_auditevent SET action = 'x'", "DELETE FROM audit_auditevent"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditEvent.objects.count() == 5
