"""The restore drill: build a platform through the real services in a fresh database, back it up, restore it into
another fresh database and fresh storage, and prove that everything came back: rows, lineage files, a rerun's
result and export bytes, grants, and the audit chains with the same heads."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django_tenants.utils import schema_context, tenant_context

from audit.models import AuditEvent
from audit.verification import audit_chain_verify
from backups.integrity import lineage_problems
from datasets.models import Study
from queries.exports import run_export
from queries.lineage import run_rerun
from queries.models import QueryRun
from queries.run_worker import query_run_execute
from tenants.models import Membership, Tenant, User
from tests.backups.conftest import Drill, restore
from tests.backups.databases import fresh_database
from tests.backups.platform import drill_user, platform_facts, study_participants


def test_backup_holds_every_schema_file_and_audit_head(drill: Drill) -> None:
    manifest, facts = drill.manifest, drill.facts
    assert set(manifest.schemas) == {"public", "t_drill_a", "t_drill_b"}
    for slug, workspace in facts.workspaces.items():
        state = manifest.schemas[workspace.schema]
        assert state.tables["datasets_study"] == workspace.counts["Study"] == 2, slug
        assert state.tables["queries_queryexport"] == 1
        assert state.audit is not None and state.audit.verified
        assert state.audit.head_hash == workspace.audit_head
        assert state.audit.events == workspace.counts["AuditEvent"]
        assert any(table.startswith("dv_") for table in state.tables)  # the PostgreSQL engine's version tables
    assert manifest.schemas["public"].audit.head_hash == facts.public_audit_head  # type: ignore[union-attr]
    kinds = [entry.kind for entry in manifest.files]
    # per workspace: 2 studies x (demographics + cognitive v1) kept, cognitive v2's files removed; 2 results
    # (the reused run shares its source's file)
    assert kinds.count("version_original") == kinds.count("version_parquet") == 8
    assert kinds.count("run_result") == 4
    assert not any("/cognitive/v2/" in entry.name for entry in manifest.files)
    assert manifest.missing_at_backup == []
    assert "Backup complete" in drill.output


def test_restore_drill_gives_back_the_same_platform(drill: Drill, django_db_blocker: Any) -> None:
    facts = drill.facts
    with django_db_blocker.unblock(), fresh_database("dst", drill.root / "dst") as name:
        output = restore(drill.backup)
        assert "Database restored and checked" in output and "Restore complete" in output
        # Rows, participants, grants and audit heads, read back through the ORM and the engines
        restored = platform_facts()
        for slug, before in facts.workspaces.items():
            after = restored.workspaces[slug]
            assert after.counts == before.counts, slug
            assert after.participants == before.participants, slug
            assert after.levels == before.levels, slug
            assert after.audit_head == before.audit_head, slug
            assert after.export_sha256 == before.export_sha256
        assert (restored.users, restored.memberships) == (facts.users, facts.memberships)
        assert lineage_problems(verify_content=True) == []
        # The platform schema records the restore as one more event, chained onto the backed-up head
        with schema_context("public"):
            last = AuditEvent.objects.order_by("-id").first()
            assert last is not None and last.action == "platform.restored"
            assert last.prev_hash == facts.public_audit_head
            assert last.details["dump_sha256"] == drill.manifest.database.sha256
        for schema in ("public", "t_drill_a", "t_drill_b"):
            with schema_context(schema):
                assert audit_chain_verify().ok, schema
        audit_output = io.StringIO()
        call_command("audit_verify", stdout=audit_output)
        assert audit_output.getvalue().count(": ok") == 3
        # A rerun on the restored platform reads the restored files and reproduces the result and the export
        tenant = Tenant.objects.get(slug="drill-a")
        with tenant_context(tenant):
            original = QueryRun.objects.get(pk=facts.workspaces["drill-a"].run_id)
            rerun = run_rerun(tenant=tenant, actor=drill_user("steward"), run=original)
            assert query_run_execute(rerun.pk) == "succeeded"
            rerun.refresh_from_db()
            assert rerun.result_sha256 == original.result_sha256
            export = run_export(
                tenant=tenant, run=rerun, fmt="csv", purpose="restore drill check", actor=drill_user("analyst")
            )
            assert export.sha256 == facts.workspaces["drill-a"].export_sha256
            assert (
                study_participants(Study.objects.get(slug="motion"))
                == facts.workspaces["drill-a"].participants["motion"]
            )
        connection.set_schema_to_public()
        # A second restore into this (now populated) database is refused, and changes nothing
        with pytest.raises(CommandError) as refused:
            restore(drill.backup)
        assert f"the database {name} is not empty" in str(refused.value)
        assert "nothing was changed" in str(refused.value)
        assert Membership.objects.count() == facts.memberships
        # ... unless forced: every schema is dropped and the backup restored again (the rerun above is gone)
        output = restore(drill.backup, "--force")
        assert "--force: dropping every schema" in output and "Restore complete" in output
        assert platform_facts().workspaces["drill-a"].counts == facts.workspaces["drill-a"].counts
        assert User.objects.count() == facts.users


def test_restore_into_a_storage_without_local_paths(drill: Drill, django_db_blocker: Any) -> None:
    """Object storage has no local paths: the restore and a rerun afterwards only use the storage API."""
    in_memory = {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with (
        django_db_blocker.unblock(),
        fresh_database("objects", drill.root / "objects"),
        override_settings(STORAGES=in_memory),
    ):
        assert "Restore complete" in restore(drill.backup)
        names = [entry.name for entry in drill.manifest.files]
        assert all(default_storage.exists(name) for name in names)
        assert not any(Path(default_storage.path(name)).exists() for name in names)  # in memory, not on disk
        assert lineage_problems(verify_content=True) == []
        tenant = Tenant.objects.get(slug="drill-b")
        with tenant_context(tenant):
            original = QueryRun.objects.get(pk=drill.facts.workspaces["drill-b"].run_id)
            rerun = run_rerun(tenant=tenant, actor=drill_user("steward"), run=original)
            assert query_run_execute(rerun.pk) == "succeeded"
            rerun.refresh_from_db()
            assert rerun.result_sha256 == original.result_sha256
        connection.set_schema_to_public()
