"""``platform_backup OUT``: the whole database (one snapshot) and the files its lineage names, with a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backups.backup import BackupFailed, platform_backup


class Command(BaseCommand):
    help = (
        "Back up the platform into a new folder OUT: a pg_dump of every schema taken in one snapshot, every dataset "
        "version file and result file that lineage names, and manifest.json (sha256 of every file, rows per table "
        "per schema, the head of every audit chain). Restore it with platform_restore."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", help="A new (or empty) folder to write the backup into.")
        parser.add_argument("--pg-bin", help="Folder holding pg_dump (default: found by the server's version).")
        parser.add_argument(
            "--allow-missing",
            action="store_true",
            help="Back up even when stored files are missing or altered; the manifest lists them.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            platform_backup(
                out=Path(options["out"]),
                pg_bin=Path(options["pg_bin"]) if options["pg_bin"] else None,
                allow_missing=options["allow_missing"],
                log=self.stdout.write,
            )
        except BackupFailed as exc:
            raise CommandError(f"Backup failed; nothing was written: {exc}") from exc
