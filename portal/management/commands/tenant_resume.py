"""``tenant_resume SLUG``: a suspended workspace works again (a scheduled deletion is cancelled)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from portal.management.commands._workspace import workspace_by_slug
from tenants.suspension import tenant_resume


class Command(BaseCommand):
    help = "Resume a suspended workspace (and cancel its scheduled deletion, if any)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_resume(tenant=workspace_by_slug(options["slug"]))
        self.stdout.write(f"{tenant.slug} resumed.")
