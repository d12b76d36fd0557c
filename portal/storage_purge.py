"""Removing every stored file below a prefix, on whichever storage holds the platform's files.

A workspace's files (uploads waiting for ingest, wizard uploads, version originals and Parquet files, run and
federated results) all live below ``tenants/<schema>/`` in the default storage (``datasets.storage.tenant_prefix``).
On local disk that is one folder; in a bucket it is every object whose key starts with the prefix (after the
platform's own ``BDT_S3_PREFIX``), including the older versions and delete markers of a versioned bucket.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.files.storage import FileSystemStorage, Storage, default_storage

logger = logging.getLogger(__name__)

BATCH = 1000  # the most keys one S3 DeleteObjects call takes


class StoragePurgeError(RuntimeError):
    """Some stored files could not be removed (the storage refused or failed); the caller must not go on as if
    the data were gone. The message names no bucket, key or credential."""


@dataclass(frozen=True)
class PurgeReport:
    """What a purge removed: ``objects`` files of ``bytes`` in total on ``storage`` (``local``, ``s3`` or the
    backend's class name), and ``versions``: object versions and delete markers a versioned bucket kept."""

    storage: str
    objects: int = 0
    bytes: int = 0
    versions: int = 0

    def details(self) -> dict[str, Any]:
        return {"storage": self.storage, "objects": self.objects, "bytes": self.bytes, "versions": self.versions}

    def __add__(self, other: PurgeReport) -> PurgeReport:
        return PurgeReport(
            self.storage, self.objects + other.objects, self.bytes + other.bytes, self.versions + other.versions
        )


def _prefix_check(prefix: str) -> str:
    parts = prefix.strip("/").split("/")
    if not prefix.endswith("/") or len(parts) < 2 or any(part in ("", ".", "..") for part in parts):
        raise ValueError("a purge prefix is a folder below the platform's root, ending with '/'")
    return prefix


def storage_prefix_purge(prefix: str, storage: Storage | None = None) -> PurgeReport:
    """Delete every file below ``prefix`` (``tenants/<schema>/``) in ``storage`` (default: the default storage).

    Raises :class:`StoragePurgeError` when anything could not be deleted; running it again deletes what is left."""
    prefix = _prefix_check(prefix)
    storage = default_storage if storage is None else storage
    if isinstance(storage, FileSystemStorage):
        return _local_purge(Path(storage.path(prefix)))
    if hasattr(storage, "bucket") and hasattr(storage, "location"):
        return _bucket_purge(storage, prefix)
    return _generic_purge(storage, prefix)


def _local_purge(root: Path) -> PurgeReport:
    objects = size = 0
    for folder, _, files in os.walk(root):
        for filename in files:
            objects += 1
            with contextlib.suppress(OSError):
                size += (Path(folder) / filename).stat().st_size
    failures: list[str] = []
    if root.exists():
        shutil.rmtree(root, onerror=lambda _func, path, _exc: failures.append(path))
    if failures or root.exists():
        logger.error("could not remove %d local paths below %s", len(failures), root)
        raise StoragePurgeError("Some local files of the workspace could not be removed.")
    return PurgeReport("local", objects, size)


def _bucket_key_prefix(storage: Any, prefix: str) -> str:
    location = str(getattr(storage, "location", "") or "").strip("/")
    return f"{location}/{prefix}" if location else prefix


def _delete_batch(client: Any, bucket: str, batch: list[dict[str, str]]) -> None:
    answer = client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    errors = answer.get("Errors") or []
    if errors:
        logger.error("object storage refused %d deletions, first: %s", len(errors), errors[0].get("Code"))
        raise StoragePurgeError("The object storage refused to delete some of the workspace's files.")


def _bucket_purge(storage: Any, prefix: str) -> PurgeReport:
    from botocore.exceptions import BotoCoreError, ClientError

    client, bucket = storage.connection.meta.client, storage.bucket_name
    key_prefix = _bucket_key_prefix(storage, prefix)
    objects = size = versions = 0
    try:
        batch: list[dict[str, str]] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix):
            for item in page.get("Contents", []):
                batch.append({"Key": item["Key"]})
                objects += 1
                size += int(item.get("Size") or 0)
                if len(batch) == BATCH:
                    _delete_batch(client, bucket, batch)
                    batch = []
        if batch:
            _delete_batch(client, bucket, batch)
        versions = _bucket_versions_purge(client, bucket, key_prefix)
        left = client.list_objects_v2(Bucket=bucket, Prefix=key_prefix, MaxKeys=1).get("KeyCount", 0)
    except (BotoCoreError, ClientError) as error:
        logger.error("object storage purge below %s failed: %r", key_prefix, error)
        raise StoragePurgeError("The object storage could not be reached to delete the workspace's files.") from error
    if left:
        raise StoragePurgeError("Files of the workspace were still in the object storage after the purge.")
    return PurgeReport("s3", objects, size, versions)


def _bucket_versions_purge(client: Any, bucket: str, key_prefix: str) -> int:
    """Delete older versions and delete markers below ``key_prefix`` (a versioned bucket keeps them after a plain
    delete). A bucket that is not versioned has none; a store without the versions API is left as it is (logged)."""
    from botocore.exceptions import ClientError

    status = ""
    try:
        status = str(client.get_bucket_versioning(Bucket=bucket).get("Status") or "")
    except ClientError as error:
        logger.warning("object storage: bucket versioning unknown (%s); older versions not checked", error)
        return 0
    if not status:  # never versioned: a delete removed the object for good
        return 0
    removed = 0
    batch: list[dict[str, str]] = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key_prefix):
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            batch.append({"Key": item["Key"], "VersionId": item["VersionId"]})
            removed += 1
            if len(batch) == BATCH:
                _delete_batch(client, bucket, batch)
                batch = []
    if batch:
        _delete_batch(client, bucket, batch)
    return removed


def _generic_purge(storage: Storage, prefix: str) -> PurgeReport:
    """Any other backend through the storage API alone (slower: one call per file)."""
    objects = size = 0
    pending = [prefix]
    try:
        while pending:
            folder = pending.pop()
            try:
                folders, files = storage.listdir(folder)
            except FileNotFoundError:
                continue
            pending.extend(f"{folder}{name}/" for name in folders)
            for filename in files:
                name = f"{folder}{filename}"
                with contextlib.suppress(OSError, NotImplementedError):
                    size += storage.size(name)
                storage.delete(name)
                objects += 1
    except Exception as error:
        logger.error("storage purge below %s failed: %r", prefix, error)
        raise StoragePurgeError("The storage could not delete the workspace's files.") from error
    return PurgeReport(type(storage).__name__, objects, size)
