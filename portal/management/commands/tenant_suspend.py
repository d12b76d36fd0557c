"""``tenant_suspend SLUG [--reason TEXT]``: every request to the workspace answers 403 until it is resumed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from portal.management.commands._workspace import workspace_by_slug
from tenants.suspension import tenant_suspend


class Command(BaseCommand):
    help = "Suspend a workspace (nothing is deleted; tenant_resume undoes it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--reason", default="", help="Shown to the workspace's people.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_suspend(tenant=workspace_by_slug(options["slug"]), reason=options["reason"])
        self.stdout.write(f"{tenant.slug} suspended since {tenant.suspended_at:%Y-%m-%d %H:%M} UTC.")
