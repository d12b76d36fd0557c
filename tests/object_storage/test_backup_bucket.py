"""Backups with the files in a bucket: restore a platform backup into an empty bucket (every file an object with
its recorded bytes), rerun on it, and back it up again from the bucket with the same files."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.db import connection
from django.test import override_settings
from django_tenants.utils import tenant_context

from backups.integrity import lineage_problems
from bdt_project.settings.object_storage import default_storage_backend
from queries.lineage import run_rerun
from queries.models import QueryRun
from queries.run_worker import query_run_execute
from tenants.models import Tenant
from tests.backups.conftest import Drill, backup_take, manifest_read, restore
from tests.backups.databases import fresh_database
from tests.backups.platform import drill_user
from tests.object_storage.conftest import Bucket


def test_a_backup_restores_into_a_bucket_and_backs_up_again_from_it(
    drill: Drill,
    bucket: Bucket,
    django_db_blocker: Any,
) -> None:
    storages = {**settings.STORAGES, "default": default_storage_backend(bucket.env)}
    with (
        django_db_blocker.unblock(),
        fresh_database("bucket", drill.root / "bucket"),
        override_settings(STORAGES=storages),
    ):
        assert "Restore complete" in restore(drill.backup)
        # Every file of the backup is an object in the bucket, with the bytes the manifest records
        for entry in drill.manifest.files:
            assert hashlib.sha256(bucket.read(entry.name)).hexdigest() == entry.sha256, entry.name
        assert lineage_problems(verify_content=True) == []
        # A rerun reads the restored versions from the bucket and writes its result there
        tenant = Tenant.objects.get(slug="drill-b")
        with tenant_context(tenant):
            original = QueryRun.objects.get(pk=drill.facts.workspaces["drill-b"].run_id)
            rerun = run_rerun(tenant=tenant, actor=drill_user("steward"), run=original)
            assert query_run_execute(rerun.pk) == "succeeded"
            rerun.refresh_from_db()
        connection.set_schema_to_public()
        assert rerun.result_sha256 == original.result_sha256
        assert hashlib.sha256(bucket.read(rerun.result_file)).hexdigest() == rerun.result_sha256
        # Backed up again from the bucket: the same files (plus the rerun's result), none missing
        backup_take(drill.root / "from-bucket")
        again = manifest_read(drill.root / "from-bucket")
    before = {(entry.name, entry.sha256) for entry in drill.manifest.files}
    after = {(entry.name, entry.sha256) for entry in again.files}
    assert after - before == {(rerun.result_file, rerun.result_sha256)} and before <= after
    assert again.missing_at_backup == []
