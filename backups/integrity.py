"""Does the platform's lineage still resolve? Every run's pinned versions exist with the bytes it read, and every
file a version or a run names is in storage (optionally re-hashed). Used after a restore and after upgrades."""

from __future__ import annotations

import hashlib

from django.core.files.storage import default_storage
from django_tenants.utils import schema_context

from backups.inventory import schema_files, tenant_schemas
from backups.manifest import CHUNK


def stored_digest(name: str) -> tuple[str, int]:
    """sha256 and size of a stored file, read through the storage API (streaming)."""
    digest = hashlib.sha256()
    size = 0
    with default_storage.open(name, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _pin_problems(schema: str) -> list[str]:
    from queries.models import QueryRunVersion

    problems = []
    pins = QueryRunVersion.objects.select_related("version__dataset").order_by("run_id", "dataset_name")
    for pin in pins:
        version = pin.version
        if version.sha256 != pin.sha256 or version.number != pin.number or version.dataset.name != pin.dataset_name:
            problems.append(
                f"{schema}: run {pin.run_id} pinned {pin.dataset_name} v{pin.number} ({pin.sha256[:12]}…) "
                f"but that row is now {version.dataset.name} v{version.number} ({version.sha256[:12]}…)"
            )
        if version.files_removed_at is not None:
            problems.append(
                f"{schema}: run {pin.run_id} read {pin.dataset_name} v{pin.number}, whose files were removed"
            )
    return problems


def lineage_problems(*, verify_content: bool = False, known_missing: frozenset[str] = frozenset()) -> list[str]:
    """Every way in which a tenant's lineage does not resolve (empty when it all does).

    ``known_missing``: storage names already known to be gone (left out of a backup), not reported again.
    """
    problems: list[str] = []
    for schema in tenant_schemas():
        with schema_context(schema):
            problems.extend(_pin_problems(schema))
            for entry in schema_files(schema):
                if entry.name in known_missing:
                    continue
                if not default_storage.exists(entry.name):
                    problems.append(f"{schema}: {entry.label} is missing from storage ({entry.name})")
                elif verify_content and stored_digest(entry.name) != (entry.sha256, entry.size):
                    problems.append(f"{schema}: {entry.label} does not match its recorded sha256 ({entry.name})")
    return problems
