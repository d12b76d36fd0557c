"""Which database states this code can take over: the oldest supported release's migrations, and the check that
a backup is neither older than that nor newer than the code.

Raise :data:`OLDEST_SUPPORTED` when a release stops supporting upgrades from an older one (e.g. after squashing
migrations); the upgrade tests migrate a platform from exactly this state to the current code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.migrations.loader import MigrationLoader

OLDEST_SUPPORTED_RELEASE = "0.1"
# The last migration of each of the platform's apps in release 0.1 (the first release).
OLDEST_SUPPORTED: dict[str, str] = {
    "tenants": "0002_invitation",
    "audit": "0003_append_only_trigger",
    "datasets": "0003_delimiter",
    "queries": "0003_spec_keeps_key_order",
    "access": "0001_initial",
    "approvals": "0001_initial",
    "analysis": "0001_initial",
}


@dataclass(frozen=True)
class Compatibility:
    """How a backup's migrations compare with the code: unknown ones (newer code made it), missing baseline ones
    (older than the oldest supported release) and pending ones (a migrate will bring it up to date)."""

    unknown: list[str]
    too_old: list[str]
    pending: int

    @property
    def problems(self) -> list[str]:
        found = []
        if self.unknown:
            found.append(
                "the backup was made by a newer release (migrations this code does not have: "
                f"{', '.join(self.unknown[:10])}); restore it with that release or a newer one"
            )
        if self.too_old:
            found.append(
                f"the backup is older than release {OLDEST_SUPPORTED_RELEASE}, the oldest this code upgrades "
                f"(it lacks {', '.join(self.too_old[:10])}); restore it with an older release and upgrade from there"
            )
        return found


def code_migrations() -> tuple[set[str], set[str]]:
    """``app.migration`` names on disk (the platform's and its libraries'), and those a fully migrated schema
    records (the graph's nodes: squashed migrations stand for the ones they replace)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    on_disk = {f"{app}.{name}" for app, name in loader.disk_migrations}
    return on_disk, {f"{app}.{name}" for app, name in loader.graph.nodes}


def baseline_migrations() -> set[str]:
    """The oldest supported state: each listed migration and every migration it depends on."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    needed: set[str] = set()
    for app, name in OLDEST_SUPPORTED.items():
        needed.update(f"{a}.{n}" for a, n in loader.graph.forwards_plan((app, name)))
    return needed


def compatibility(applied_by_schema: Iterable[tuple[str, list[str]]]) -> Compatibility:
    """Compare each schema's applied migrations with the code and the oldest supported state."""
    known, current = code_migrations()
    baseline = baseline_migrations()
    unknown: set[str] = set()
    too_old: set[str] = set()
    pending = 0
    for _schema, applied in applied_by_schema:
        names = set(applied)
        if not names:
            continue
        unknown |= names - known
        too_old |= {name for name in baseline - names if name.split(".")[0] in OLDEST_SUPPORTED}
        pending += len(current - names)
    return Compatibility(unknown=sorted(unknown), too_old=sorted(too_old), pending=pending)
