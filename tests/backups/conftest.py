"""The drill platform, built once per test session in its own database and backed up (plus the same platform with
a file gone from storage, backed up with and without --allow-missing)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import schema_context

from backups.manifest import Manifest
from queries.models import QueryRun
from tests.backups.databases import fresh_database
from tests.backups.platform import PlatformFacts, platform_build


@dataclass
class Drill:
    backup: Path
    manifest: Manifest
    facts: PlatformFacts
    root: Path
    output: str
    lost_file: str
    refused_backup: str
    partial_backup: Path


def backup_take(out: Path, *extra: str) -> str:
    """``platform_backup OUT`` in this process; returns what it printed."""
    stdout = io.StringIO()
    call_command("platform_backup", str(out), *extra, stdout=stdout)
    return stdout.getvalue()


def restore(source: Path, *extra: str) -> str:
    """``platform_restore IN`` in this process; returns what it printed."""
    stdout = io.StringIO()
    call_command("platform_restore", str(source), *extra, stdout=stdout)
    return stdout.getvalue()


def manifest_read(folder: Path) -> Manifest:
    return Manifest.model_validate_json((folder / "manifest.json").read_bytes())


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
