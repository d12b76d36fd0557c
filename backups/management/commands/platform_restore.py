"""``platform_restore IN``: verify a backup, then restore it into the configured (empty) database and storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backups.manifest import BackupInvalid
from backups.restore import RestoreFailed, RestoreRefused, platform_restore


class Command(BaseCommand):
    help = (
        "Restore a platform_backup folder into the configured database and storage: verify every file against the "
        "manifest, write the files, restore the database in one transaction, check rows and audit heads against "
        "the manifest, and migrate an older backup to this release. Stop web, workers and beat first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", metavar="IN", help="The backup folder written by platform_backup.")
        parser.add_argument(
            "--check", action="store_true", help="Only verify the backup against its manifest; change nothing."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Restore into a database that holds tables (every schema in it is dropped first) and overwrite "
            "stored files that differ.",
        )
        parser.add_argument("--pg-bin", help="Folder holding pg_restore (default: found by the server's version).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            platform_restore(
                source=Path(options["source"]),
                force=options["force"],
                pg_bin=Path(options["pg_bin"]) if options["pg_bin"] else None,
                check_only=options["check"],
                log=self.stdout.write,
            )
        except BackupInvalid as exc:
            raise CommandError(f"{exc}\nNothing was restored.") from exc
        except (RestoreRefused, RestoreFailed) as exc:
            raise CommandError(str(exc)) from exc
