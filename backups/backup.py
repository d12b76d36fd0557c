"""Taking a backup: the whole database in one snapshot, then the files that snapshot's lineage names.

The order is fixed here so nobody can get it wrong: a REPEATABLE READ transaction exports its snapshot; pg_dump
dumps exactly that snapshot, and the row counts, audit chain heads, migrations and the list of files are read in
the same transaction, so the manifest describes the dump byte for byte. The files are copied afterwards through
Django's storage API (local disk or object storage alike); dataset versions and results are immutable, so a file
named by the snapshot is the same file later. The backup is written into a hidden sibling folder and renamed into
place only when complete: a folder with a manifest is always a whole backup.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from audit.services import audit_event_record
from backups import inventory
from backups.manifest import (
    CHUNK,
    DUMP,
    FILES_DIR,
    FORMAT,
    FORMAT_VERSION,
    DatabaseDump,
    FileEntry,
    LeftOut,
    Manifest,
    SchemaState,
    file_digest,
    manifest_write,
    storage_name_valid,
)
from backups.pgtools import ToolError, pg_tool_find, pg_tool_run, server_version

Log = Callable[[str], None]


class BackupFailed(Exception):
    """The backup could not be taken; nothing was left at the destination."""


def _snapshot_and_dump(
    work: Path, pg_bin: Path | None, log: Log
) -> tuple[DatabaseDump, dict[str, SchemaState], list[FileEntry]]:
    if connection.in_atomic_block:
        raise BackupFailed("A backup cannot run inside another transaction.")
    major, version = server_version()
    pg_dump = pg_tool_find("pg_dump", major, pg_bin)
    log(f"Database: PostgreSQL {version}; dumping with {pg_dump.path} ({pg_dump.version})")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = str(cursor.fetchone()[0])
        pg_tool_run(pg_dump, ["--format=custom", f"--snapshot={snapshot}", f"--file={work / DUMP}", "--no-password"])
        schemas = {schema: inventory.schema_state(schema) for schema in inventory.database_schemas()}
        files = inventory.lineage_files()
    digest, size = file_digest(work / DUMP)
    dump = DatabaseDump(file=DUMP, sha256=digest, size=size, server_version=version, pg_dump_version=pg_dump.version)
    return dump, schemas, files


def _copy_file(entry: FileEntry, target: Path) -> str | None:
    """Copy one stored file into the backup, checking it against the hash the database recorded."""
    if not storage_name_valid(entry.name):
        return f"{entry.name!r} ({entry.label} in {entry.schema_name}) is not a platform storage name"
    if not default_storage.exists(entry.name):
        return f"missing in storage: {entry.name} ({entry.label} in {entry.schema_name})"
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with default_storage.open(entry.name, "rb") as source, open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if digest.hexdigest() != entry.sha256 or size != entry.size:
        target.unlink()
        return (
            f"altered in storage: {entry.name} ({entry.label} in {entry.schema_name}; "
            "its sha256 differs from the recorded one)"
        )
    return None


def platform_backup(
    *, out: Path, pg_bin: Path | None = None, allow_missing: bool = False, log: Log = print
) -> Manifest:
    """Back up the whole platform into the new folder ``out`` and return its manifest.

    A stored file that is missing or no longer matches its recorded sha256 fails the backup (naming each one),
    unless ``allow_missing``: then the backup is taken without them and the manifest lists them.
    """
    out = out.resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupFailed(f"{out} already exists and is not empty; choose a new folder.")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    try:
        dump, schemas, files = _snapshot_and_dump(work, pg_bin, log)
        tables = sum(len(state.tables) for state in schemas.values())
        log(f"Database dumped: {len(schemas)} schemas, {tables} tables, {dump.size:,} bytes")
        for schema, state in schemas.items():
            if state.audit is not None and not state.audit.verified:
                log(f"WARNING: the audit chain of {schema} does not verify ({state.audit.problem}); backed up as it is")
        failed = {entry.name: p for entry in files if (p := _copy_file(entry, work / FILES_DIR / entry.name))}
        problems = list(failed.values())
        if problems and not allow_missing:
            raise BackupFailed(
                "Files that lineage names are missing or altered in storage (re-run with --allow-missing to back up "
                "everything else and list them in the manifest):\n  " + "\n  ".join(problems)
            )
        kept = [entry for entry in files if entry.name not in failed]
        log(
            f"Files copied: {len(kept)} ({sum(e.size for e in kept):,} bytes)"
            + (f"; {len(problems)} left out" if problems else "")
        )
        manifest = Manifest(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            created_at=timezone.now().isoformat(),
            database=dump,
            schemas=schemas,
            files=kept,
            missing_at_backup=[LeftOut(name=name, problem=problem) for name, problem in failed.items()],
        )
        manifest_write(work, manifest)
        if out.exists():
            out.rmdir()
        work.rename(out)
    except ToolError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise BackupFailed(str(exc)) from exc
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    audit_event_record(
        action="platform.backup_taken",
        schema_name=get_public_schema_name(),
        target_type="backup",
        target_repr=manifest.created_at,
        details={
            "dump_sha256": manifest.database.sha256,
            "schemas": len(manifest.schemas),
            "files": len(manifest.files),
            "files_left_out": len(manifest.missing_at_backup),
        },
    )
    log(f"Backup complete: {out}")
    return manifest
