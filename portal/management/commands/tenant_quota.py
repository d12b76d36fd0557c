"""``tenant_quota SLUG [--storage-bytes N] [--members N] [--runs-per-day N]``: set (or show) a workspace's quotas.

``0`` refuses everything of that kind; ``none`` removes the limit (storage falls back to the platform default)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApiError
from portal.management.commands._workspace import workspace_by_slug
from portal.operator import workspace_quota_set
from portal.usage import quota_states_now, usage_now


def _limit(value: str) -> int | None:
    if value.strip().lower() in {"none", "unlimited", ""}:
        return None
    try:
        number = int(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a whole number (or 'none').") from None
    if number < 0:
        raise CommandError("A quota cannot be negative.")
    return number


class Command(BaseCommand):
    help = "Set a workspace's quotas (storage bytes, members, query runs per day) and print them with the usage."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--storage-bytes", default=None, help="Bytes of dataset files (or 'none').")
        parser.add_argument("--members", default=None, help="Most members (or 'none').")
        parser.add_argument("--runs-per-day", default=None, help="Most query runs per UTC day (or 'none').")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = workspace_by_slug(options["slug"])
        changes = {
            key: _limit(options[option])
            for key, option in (
                ("storage_bytes", "storage_bytes"),
                ("members", "members"),
                ("runs_per_day", "runs_per_day"),
            )
            if options[option] is not None
        }
        if changes:
            try:
                tenant = workspace_quota_set(tenant=tenant, changes=changes)
            except ApiError as exc:
                raise CommandError(exc.message) from exc
        for state in quota_states_now(tenant, usage_now(tenant)):
            percent = f" ({state.percent} %)" if state.percent is not None else ""
            self.stdout.write(f"{state.quota}: {state.used} of {state.shown(state.limit)}{percent} {state.level}")
