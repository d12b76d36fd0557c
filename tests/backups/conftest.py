"""Helpers of the backup drill: taking and restoring backups in this process, reading manifests. The drill platform
itself (built once per test session, backed up, plus the same platform with a file gone from storage backed up
with and without --allow-missing) is the ``drill`` fixture in tests/plugins/backups.py."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from django.core.management import call_command

from backups.manifest import Manifest
from tests.backups.platform import PlatformFacts


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
