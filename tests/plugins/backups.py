"""The backup drill platform (registered for every test in tests/conftest.py, so the suites that restore it, e.g.
tests/backups and tests/object_storage, share one build per session)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import schema_context

from queries.models import QueryRun
from tests.backups.conftest import Drill, backup_take, manifest_read
from tests.backups.databases import fresh_database
from tests.backups.platform import platform_build


@pytest.fixture(scope="session")
def drill(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: Any) -> Drill:
    root = tmp_path_factory.mktemp("drill")
    with django_db_blocker.unblock(), fresh_database("src", root / "src"):
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        facts = platform_build()
        output = backup_take(root / "backup")
        # Then a result file disappears from storage: a plain backup refuses, --allow-missing lists it.
        with schema_context(facts.workspaces["drill-b"].schema):
            lost = QueryRun.objects.get(pk=facts.workspaces["drill-b"].run_id).result_file
        default_storage.delete(lost)
        try:
            backup_take(root / "refused")
            refused = ""
        except CommandError as exc:
            refused = str(exc)
        backup_take(root / "partial", "--allow-missing")
    return Drill(
        backup=root / "backup",
        manifest=manifest_read(root / "backup"),
        facts=facts,
        root=root,
        output=output,
        lost_file=lost,
        refused_backup=refused,
        partial_backup=root / "partial",
    )
