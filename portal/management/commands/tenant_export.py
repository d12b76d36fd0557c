"""``tenant_export SLUG OUT.zip``: the full archive of a workspace (records, audit chain, version files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.export import workspace_export
from portal.management.commands._workspace import workspace_by_slug


class Command(BaseCommand):
    help = "Export a workspace to a zip archive for hand-over (see docs/operations.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("out", help="Path of the zip archive to write.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = workspace_by_slug(options["slug"])
        out = Path(options["out"])
        if out.is_dir():
            raise CommandError(f"{out} is a directory; name the archive file, e.g. {out / (tenant.slug + '.zip')}.")
        try:
            manifest = workspace_export(tenant=tenant, out=out)
        except OSError as exc:
            raise CommandError(f"Could not write {out}: {exc.strerror or exc}.") from exc
        records = sum(manifest["records"].values())
        self.stdout.write(f"{out}: {records} records, {len(manifest['files'])} files.")
