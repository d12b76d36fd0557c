"""A full export of a workspace for hand-over: one zip archive with every record of the workspace (studies,
datasets and versions with their dictionaries, grants, teams, requests, runs, the audit chain...) as JSON, the
original and Parquet bytes of every version whose files are kept, and a manifest with each file's SHA-256.

Layout::

    manifest.json                         workspace, time, record counts, files (path, sha256, bytes)
    workspace.json                        the workspace row, its domains, members and invitations (no secrets)
    records/<app>.<model>.json            Django's JSON serialization of every row of the workspace's schema
    files/<study>/<dataset>/v<n>/original-<filename> and .../data.parquet
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.files.storage import default_storage
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.services import audit_event_record
from tenants.models import Invitation, Membership, Tenant

CHUNK = 1024 * 1024
SCHEMA_FORMAT = 1


def _tenant_models() -> list[Any]:
    labels = [label.rsplit(".", 1)[-1] for label in settings.TENANT_APPS]
    found = []
    for label in labels:
        for model in apps.get_app_config(label).get_models():
            if model._meta.managed and not model._meta.proxy:
                found.append(model)
    return found


def _safe(part: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in part).strip(".")
    return cleaned[:120] or "file"


class _Hashing(io.RawIOBase):
    """A writable stream that hashes and counts what it passes on."""

    def __init__(self, target: Any) -> None:
        self.target, self.digest, self.size = target, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.digest.update(chunk)
        self.size += len(chunk)
        self.target.write(chunk)
        return len(chunk)


class _Writer:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.files: list[dict[str, Any]] = []

    def text(self, name: str, text: str) -> None:
        data = text.encode("utf-8")
        self.archive.writestr(name, data)
        self.files.append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})

    def records(self, name: str, rows: Any) -> None:
        """Serialize ``rows`` straight into the archive (flat memory whatever the number of rows)."""
        with self.archive.open(name, "w", force_zip64=True) as raw:
            hashing = _Hashing(raw)
            text = io.TextIOWrapper(hashing, encoding="utf-8", newline="\n")  # type: ignore[type-var]
            serializers.serialize("json", rows, stream=text, indent=1)
            text.flush()
            text.detach()
        self.files.append({"path": name, "sha256": hashing.digest.hexdigest(), "bytes": hashing.size})

    def stored(self, name: str, storage_name: str) -> None:
        digest, size = hashlib.sha256(), 0
        with default_storage.open(storage_name, "rb") as source, self.archive.open(name, "w", force_zip64=True) as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        self.files.append({"path": name, "sha256": digest.hexdigest(), "bytes": size})


def _workspace_document(tenant: Tenant) -> dict[str, Any]:
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "kind": tenant.kind,
        "description": tenant.description,
        "settings": tenant.settings,
        "created_at": tenant.created_at.isoformat(),
        "domains": list(tenant.domains.values_list("domain", flat=True)),  # type: ignore[attr-defined]
        "members": [
            {"email": m.user.email, "role": m.role, "since": m.created_at.isoformat()}
            for m in Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__email")
        ],
        "invitations": [
            {"email": i.email, "role": i.role, "status": i.status, "created_at": i.created_at.isoformat()}
            for i in Invitation.objects.filter(tenant=tenant).order_by("created_at")
        ],
    }


def workspace_export(*, tenant: Tenant, out: Path, actor: Any = None) -> dict[str, Any]:
    """Write the archive of ``tenant`` to ``out`` (a temporary name first, then renamed); returns the manifest."""
    from datasets.models import DatasetVersion

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    counts: dict[str, int] = {}
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            writer = _Writer(archive)
            writer.text("workspace.json", json.dumps(_workspace_document(tenant), indent=2, default=str))
            with schema_context(tenant.schema_name):
                for model in _tenant_models():
                    manager = getattr(model, "all_objects", model._default_manager)
                    rows = manager.order_by("pk")
                    counts[model._meta.label_lower] = rows.count()
                    writer.records(f"records/{model._meta.label_lower}.json", rows.iterator(chunk_size=500))
                versions = DatasetVersion.all_objects.filter(files_removed_at__isnull=True).select_related(
                    "dataset__study"
                )
                for version in versions.order_by("pk"):
                    folder = (
                        f"files/{_safe(version.dataset.study.slug)}/{_safe(version.dataset.name)}/v{version.number}"
                    )
                    for storage_name, name in (
                        (version.original_file, f"original-{_safe(version.original_filename)}"),
                        (version.parquet_file, "data.parquet"),
                    ):
                        if storage_name and default_storage.exists(storage_name):
                            writer.stored(f"{folder}/{name}", storage_name)
            manifest: dict[str, Any] = {
                "format": SCHEMA_FORMAT,
                "workspace": tenant.slug,
                "exported_at": timezone.now().isoformat(),
                "records": counts,
                "files": writer.files,
            }
            archive.writestr("manifest.json", json.dumps(manifest, indent=2))
        partial.replace(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    audit_event_record(
        action="tenant.exported",
        actor=actor,
        target=tenant,
        details={"files": len(manifest["files"]), "records": sum(counts.values())},
        schema_name=tenant.schema_name,
    )
    return manifest
