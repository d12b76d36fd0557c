"""Upgrading a platform with data from the oldest supported release to the current code.

A fresh database is migrated to exactly the oldest supported state (backups.releases.OLDEST_SUPPORTED) in every
schema, loaded with data through that state's models, migrated forward with ``migrate_schemas`` (what operators
run), and then checked with the current code: every study counts, every run's lineage resolves and reruns to the
same rows, grants and saved queries still work, the audit chains verify with unchanged heads; and a backup of the
old platform restores and upgrades in one ``platform_restore``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_context, tenant_context

from access.selectors import dataset_level_for_user
from audit.models import AuditEvent
from audit.verification import audit_chain_verify
from backups.integrity import lineage_problems
from backups.inventory import applied_migrations
from backups.releases import OLDEST_SUPPORTED, compatibility
from datasets.models import Dataset, Study
from queries.core.spec import spec_parse
from queries.lineage import run_rerun
from queries.models import QueryRun, SavedQuery
from queries.run_worker import query_run_execute
from tenants.models import Tenant, User
from tests.backups.conftest import backup_take, manifest_read, restore
from tests.backups.databases import fresh_database
from tests.backups.migrator import baseline_targets, schema_migrate
from tests.backups.platform import study_participants
from tests.backups.release_data import LEGACY, LegacyFacts, public_load, tenant_load


def _legacy_platform_build() -> LegacyFacts:
    """The oldest supported release's schema in every schema of the (fresh) database, with its data."""
    facts = LegacyFacts()
    targets = baseline_targets()
    public_load(schema_migrate("public", targets), facts)
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{LEGACY["schema"]}"')
    tenant_load(schema_migrate(LEGACY["schema"], targets), facts)
    connection.set_schema_to_public()
    return facts


def _at_oldest_supported_state() -> None:
    for schema in ("public", LEGACY["schema"]):
        applied = set(applied_migrations(schema))
        for app, name in OLDEST_SUPPORTED.items():
            assert f"{app}.{name}" in applied, (schema, app)
            later = [m for m in applied if m.startswith(f"{app}.") and m.split(".", 1)[1] > name]
            assert later == [], (schema, later)


def _upgraded_platform_check(facts: LegacyFacts, *, restored: bool = False) -> None:
    tenant = Tenant.objects.get(slug=LEGACY["slug"])
    steward = User.objects.get(pk=facts.users["steward"])
    analyst = User.objects.get(pk=facts.users["analyst"])
    assert lineage_problems(verify_content=True) == []
    for schema, head in facts.audit_heads.items():
        with schema_context(schema):
            assert audit_chain_verify().ok, schema
            last = AuditEvent.objects.order_by("-id").first()
            assert last is not None
            if restored and schema == "public":  # the restore is recorded on top of the backed-up head
                assert (last.action, last.prev_hash) == ("platform.restored", head)
            else:
                assert last.hash == head, schema
    with tenant_context(tenant):
        assert {s.slug: study_participants(s) for s in Study.objects.all()} == facts.participants
        memory = Study.objects.get(slug="memory")
        cognitive = Dataset.objects.get(study=memory, name="cognitive")
        assert dataset_level_for_user(user=analyst, tenant=tenant, dataset=cognitive) == "export"
        for saved in SavedQuery.objects.all():
            spec_parse(saved.spec)
        for run_id, rows in facts.run_rows.items():
            original = QueryRun.objects.get(pk=run_id)
            assert [pin.sha256 for pin in original.pinned.all()] == [
                pin.version.sha256 for pin in original.pinned.select_related("version")
            ]
            rerun = run_rerun(tenant=tenant, actor=steward, run=original)
            assert query_run_execute(rerun.pk) == "succeeded", (rerun.error_code, rerun.error_message)
            rerun.refresh_from_db()
            assert rerun.row_count == rows and rerun.spec_hash == original.spec_hash
    connection.set_schema_to_public()


def test_the_oldest_supported_release_upgrades_with_its_data(
    django_db_setup: None, django_db_blocker: Any, tmp_path: Path
) -> None:
    with django_db_blocker.unblock(), fresh_database("upgrade", tmp_path / "db"):
        facts = _legacy_platform_build()
        _at_oldest_supported_state()
        call_command("migrate_schemas", interactive=False, verbosity=0)
        assert compatibility([(s, applied_migrations(s)) for s in ("public", LEGACY["schema"])]).pending == 0
        _upgraded_platform_check(facts)


def test_a_backup_of_the_oldest_supported_release_restores_and_upgrades(
    django_db_setup: None, django_db_blocker: Any, tmp_path: Path
) -> None:
    with django_db_blocker.unblock():
        with fresh_database("legacy", tmp_path / "legacy"):
            facts = _legacy_platform_build()
            backup_take(tmp_path / "backup")
        with fresh_database("upgraded", tmp_path / "upgraded"):
            output = restore(tmp_path / "backup")
            manifest = manifest_read(tmp_path / "backup")
            pending = compatibility([(s, state.migrations) for s, state in manifest.schemas.items()]).pending
            assert ("migrations to apply): migrating" in output) == (pending > 0)
            assert "Restore complete" in output
            _upgraded_platform_check(facts, restored=True)


@pytest.fixture(autouse=True)
def _public_afterwards() -> Any:
    yield
    connection.set_schema_to_public()
