"""Where dataset files live: Django's storage API under a per-tenant prefix, plus a worker-local cache.

Local disk by default; S3-compatible object storage by setting (django-storages). Query engines never read the
storage directly: they ask :func:`version_cache_path`, which copies a version's Parquet file into a local cache
keyed by its sha256 on first use, so every backend works the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from audit.services import current_schema_name
from core.errors import ApiError, disk_full

CHUNK = 1024 * 1024
logger = logging.getLogger(__name__)


class StoredFileUnavailable(ApiError, OSError):
    """A stored file could not be read back (object missing, storage unreachable) or no longer matches its
    checksum. 503 with a stable code; the storage name and the cause go to the log only."""

    def __init__(self, code: str = "stored_file_unavailable") -> None:
        message = (
            "A stored data file could not be read; nothing was changed. Try again shortly, and if it keeps failing "
            "ask an administrator to check the platform's storage."
        )
        super().__init__(503, code, message, headers={"Retry-After": "30"})


def tenant_prefix() -> str:
    """The storage prefix of the current tenant: every file of a tenant lives below it."""
    return f"tenants/{current_schema_name()}/"


def staging_name(job_id: int, slug: str) -> str:
    """Storage name for an upload waiting to be ingested."""
    return f"{tenant_prefix()}staging/{job_id}-{uuid.uuid4().hex[:8]}/{slug}.csv"


def setup_upload_prefix(study_pk: int) -> str:
    """Storage folder of a study's setup-wizard upload (the demographics file waiting for its key columns)."""
    return f"{tenant_prefix()}setup/{study_pk}/"


def setup_draft_prefix(token: str) -> str:
    """Storage folder of the demographics file of a study not created yet (the wizard's draft, a hex token)."""
    return f"{tenant_prefix()}setup/new-{token}/"


def setup_upload_name(study_pk: int) -> str:
    """A fresh storage name for a setup-wizard upload."""
    return f"{setup_upload_prefix(study_pk)}{uuid.uuid4().hex}.csv"


def setup_uploads_purge(*, older_than: timedelta, now: datetime) -> int:
    """Delete the current tenant's wizard uploads untouched for ``older_than`` (abandoned setups). Returns the count.

    A wizard upload only lives until its key columns are confirmed or discarded; one left behind (the browser was
    closed) is never registered, so removing it loses nothing: the wizard asks for the file again.
    """
    root = f"{tenant_prefix()}setup/"
    try:  # a folder is no object in a bucket: list it (empty there, missing on disk)
        study_folders, _ = default_storage.listdir(root)
    except FileNotFoundError:
        return 0
    removed = 0
    for folder in study_folders:
        _, files = default_storage.listdir(f"{root}{folder}/")
        for filename in files:
            name = f"{root}{folder}/{filename}"
            if default_storage.get_modified_time(name) < now - older_than:
                default_storage.delete(name)
                removed += 1
    return removed


def version_names(study: str, dataset: str, number: int) -> tuple[str, str]:
    """Storage names of a version's original bytes and Parquet file."""
    base = f"{tenant_prefix()}studies/{study}/{dataset}/v{number}"
    return f"{base}/original.csv", f"{base}/data.parquet"


def storage_save(name: str, content: IO[bytes] | File, *, replace_orphan: bool = False) -> str:
    """Stream ``content`` into storage under exactly ``name``.

    An existing file there is an error, unless ``replace_orphan``: the caller holds the lock that makes the name
    unregistered (e.g. a version number no row uses), so whatever lies there is debris of a crashed attempt.
    """
    if default_storage.exists(name):
        if not replace_orphan:
            raise FileExistsError("storage name already taken")
        default_storage.delete(name)
    try:
        saved = default_storage.save(name, content if isinstance(content, File) else File(content))
    except Exception:
        # The name was free (or ours): whatever a failed write (a full disk) left there is a partial file.
        if default_storage.exists(name):
            default_storage.delete(name)
        raise
    if saved != name:  # the backend renamed it: never silently write somewhere else
        default_storage.delete(saved)
        raise FileExistsError("storage name already taken")
    return saved


def storage_delete(names: Iterable[str]) -> None:
    """Delete files, ignoring ones already gone."""
    for name in names:
        if name and default_storage.exists(name):
            default_storage.delete(name)


def storage_open_chunks(name: str) -> Iterator[bytes]:
    """Read a stored file in chunks (flat memory for any size)."""
    with default_storage.open(name, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def storage_copy_to_local(name: str, destination: Path) -> Path:
    """Copy a stored file to a local path (streaming)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with open(destination, "wb") as out:
        for chunk in storage_open_chunks(name):
            out.write(chunk)
    return destination


def storage_used_bytes() -> int:
    """Bytes the current tenant uses in storage (originals + Parquet of every version)."""
    from django.db.models import Sum

    from datasets.models import DatasetVersion

    kept = DatasetVersion.all_objects.filter(files_removed_at__isnull=True)  # tombstones whose files are kept count
    totals = kept.aggregate(original=Sum("size_bytes"), parquet=Sum("parquet_size_bytes"))
    return int(totals["original"] or 0) + int(totals["parquet"] or 0)


def work_root() -> Path:
    """The local scratch directory for ingests, runs and exports (``BDT_WORK_DIR``)."""
    root = Path(getattr(settings, "BDT_WORK_DIR", settings.BASE_DIR / ".bdt" / "work"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir() -> Path:
    """The worker-local cache directory of version files."""
    path = Path(getattr(settings, "BDT_CACHE_DIR", settings.BASE_DIR / ".bdt" / "cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


#: Folder of the cache directory holding the participant index stores (``queries.core.engines.participant_store``).
PARTICIPANT_STORE_DIRECTORY = "participant-store"


def participant_store_directory(study_pk: int, schema: str | None = None) -> Path:
    """This node's folder of the participant index stores of a study (of ``schema``, default the current tenant):
    ``<cache>/participant-store/<schema>/<study>``. Derived from the study's versions, never uploaded anywhere;
    :func:`cache_trim` leaves it alone (stores are removed with the data they hold)."""
    return cache_dir() / PARTICIPANT_STORE_DIRECTORY / (schema or current_schema_name()) / str(int(study_pk))


def participant_stores_remove(study_pk: int, schema: str | None = None) -> None:
    """Remove every participant index store of a study on this node (its data was deleted or withdrawn)."""
    shutil.rmtree(participant_store_directory(study_pk, schema), ignore_errors=True)


def tenant_participant_stores_remove(schema: str) -> None:
    """Remove the participant index stores of every study of a workspace on this node (the workspace is purged)."""
    if schema and "/" not in schema and schema not in (".", ".."):
        shutil.rmtree(cache_dir() / PARTICIPANT_STORE_DIRECTORY / schema, ignore_errors=True)


def file_sha256(path: Path) -> str:
    """SHA-256 of a local file (streaming)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def version_cache_path(storage_name: str, sha256: str, suffix: str = ".parquet") -> Path:
    """A local copy of a stored version (or result) file, keyed by its sha256; fetched from storage when missing.

    Raises :class:`StoredFileUnavailable` when storage cannot deliver the file or delivers other bytes than recorded
    (a full local disk stays a disk-full error)."""
    target = cache_dir() / f"{sha256}{suffix}"
    if target.exists():
        _cache_touch(target)
        return target
    fd, tmp = tempfile.mkstemp(dir=cache_dir(), suffix=".part")
    os.close(fd)
    try:
        try:
            storage_copy_to_local(storage_name, Path(tmp))
        except Exception as exc:
            if disk_full(exc) or isinstance(exc, MemoryError):
                raise
            logger.warning("stored file %s could not be read: %r", storage_name, exc)
            raise StoredFileUnavailable() from exc
        if file_sha256(Path(tmp)) != sha256:
            logger.error("stored file %s does not match its recorded checksum", storage_name)
            raise StoredFileUnavailable("stored_file_corrupt")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    cache_trim()
    return target


CACHE_GRACE_SECONDS = 300.0


def _cache_touch(path: Path) -> None:
    """Mark a cached file as just used (its modification time orders the eviction)."""
    with contextlib.suppress(OSError):  # evicted meanwhile by another process: the next use fetches it again
        os.utime(path)


def cache_trim(max_bytes: int | None = None, *, grace_seconds: float = CACHE_GRACE_SECONDS) -> int:
    """Keep the local cache under ``BDT_CACHE_MAX_BYTES`` (0 = unbounded): delete the least recently used files,
    never one used within ``grace_seconds`` (a reader may be about to open it). Returns the bytes freed.

    Every file is a copy of an object in storage, so an evicted file is fetched again on its next use; a reader
    that has it open keeps reading (the name goes, the data stays until closed)."""
    limit = int(getattr(settings, "BDT_CACHE_MAX_BYTES", 0) or 0) if max_bytes is None else max_bytes
    if limit <= 0:
        return 0
    entries = []
    for path in cache_dir().iterdir():
        if path.suffix == ".part" or not path.is_file():
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    freed = 0
    cutoff = datetime.now().timestamp() - grace_seconds
    for mtime, size, path in sorted(entries, key=lambda entry: entry[0]):
        if total - freed <= limit or mtime > cutoff:
            break
        path.unlink(missing_ok=True)
        freed += size
    return freed


def local_path_or_none(storage_name: str) -> Path | None:
    """The file's local path when the storage is a local filesystem, else None."""
    try:
        return Path(default_storage.path(storage_name))
    except NotImplementedError:
        return None


def copy_local_into_cache(path: Path, sha256: str, suffix: str = ".parquet") -> bool:
    """Seed the cache with a file the worker just produced (saves a round trip to storage); whether it is cached.

    Best effort: the file is already in storage, so one that cannot be cached (a full or unwritable cache) is only
    a missed cache, fetched on first use by :func:`version_cache_path`. Each caller writes a temporary file of its
    own, so workers caching the same file at once never touch each other's copy; the last rename wins with the
    same bytes."""
    try:
        target = cache_dir() / f"{sha256}{suffix}"
        if not target.exists():
            _cache_write(path, target)
            cache_trim()
    except OSError as exc:
        logger.warning("file %s was not cached (it is read from storage on first use): %r", sha256, exc)
        return False
    return True


def _cache_write(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` through a unique temporary file in the same directory (an atomic rename)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as data:
            shutil.copyfileobj(data, out, CHUNK)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
