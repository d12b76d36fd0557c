"""Restoring a backup into the configured database and storage, in the one safe order.

1. Verify the backup against its manifest (every file's sha256, the dump's, the manifest's own) and check that
   this code can take its migration state over. Nothing is touched when anything is off.
2. Refuse a database that holds tables, and stored files that differ from the backup's, unless forced.
3. Write the files into storage (through Django's storage API), each read back and checked.
4. pg_restore the dump in one transaction (all or nothing).
5. Check the restored database against the manifest (plain SQL, so it works on an older release's schema): the
   same schemas, the same rows in every table, the same audit chain heads.
6. Bring an older backup up to the code's migrations (``migrate_schemas``).
7. Check the platform with the current code: every audit chain verifies and the lineage resolves to files in
   storage. The restore is then recorded in the platform's audit chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.contenttypes.models import ContentType
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import get_public_schema_name
from psycopg import sql

from audit.services import audit_event_record
from backups import inventory
from backups.integrity import lineage_problems, stored_digest
from backups.manifest import FILES_DIR, FileEntry, Manifest, backup_verify
from backups.pgtools import ToolError, pg_tool_find, pg_tool_run, server_version
from backups.releases import compatibility

Log = Callable[[str], None]


class RestoreRefused(Exception):
    """The restore was refused before anything was changed."""


class RestoreFailed(Exception):
    """The restore ran but the result does not match the backup (the message says what differs)."""


@dataclass
class RestoreReport:
    """What a restore did."""

    files_written: int = 0
    files_present: int = 0
    schemas: int = 0
    rows: int = 0
    migrated: bool = False
    audit_heads: dict[str, str] = field(default_factory=dict)


def _database_tables() -> list[str]:
    found: list[str] = []
    for schema in inventory.database_schemas():
        found.extend(f"{schema}.{table}" for table in inventory.schema_tables(schema))
    return found


def _storage_plan(files: list[FileEntry]) -> tuple[list[FileEntry], list[FileEntry], list[str]]:
    """Split the backup's files into those to write, those already present (same sha256), and conflicts."""
    write, present, conflicts = [], [], []
    for entry in files:
        if not default_storage.exists(entry.name):
            write.append(entry)
        elif stored_digest(entry.name)[0] == entry.sha256:
            present.append(entry)
        else:
            conflicts.append(entry.name)
            write.append(entry)
    return write, present, conflicts


def _storage_put(entry: FileEntry, source: Path) -> None:
    if default_storage.exists(entry.name):
        default_storage.delete(entry.name)
    with open(source, "rb") as handle:
        saved = default_storage.save(entry.name, File(handle))
    if saved != entry.name:
        raise RestoreFailed(f"Storage saved {entry.name} under another name ({saved}); nothing else was written.")
    if stored_digest(entry.name)[0] != entry.sha256:
        raise RestoreFailed(f"{entry.name} does not read back with its sha256 after writing it to storage.")


def _schemas_drop() -> None:
    with connection.cursor() as cursor:
        for schema in inventory.database_schemas():
            cursor.execute(sql.Composed([sql.SQL("DROP SCHEMA "), sql.Identifier(schema), sql.SQL(" CASCADE")]))
        cursor.execute("CREATE SCHEMA public")


def _compare(manifest: Manifest, report: RestoreReport) -> list[str]:
    """The restored database against the manifest: schemas, rows per table, audit chain heads. Plain SQL only, so
    it works before an older backup is migrated."""
    differences: list[str] = []
    restored = inventory.database_schemas()
    if sorted(restored) != sorted(manifest.schemas):
        differences.append(f"schemas differ: backup {sorted(manifest.schemas)}, restored {sorted(restored)}")
    for schema, expected in manifest.schemas.items():
        if schema not in restored:
            continue
        tables = inventory.table_counts(schema)
        for table in sorted(set(expected.tables) | set(tables)):
            want, got = expected.tables.get(table), tables.get(table)
            if want != got:
                differences.append(f"{schema}.{table}: the backup has {want} rows, the restored database {got}")
        report.rows += sum(tables.values())
        if expected.audit is not None:
            tail = inventory.audit_tail(schema)
            if tail is None or tail[2] != expected.audit.head_hash:
                differences.append(f"{schema}: the audit chain head differs from the backup's")
            else:
                report.audit_heads[schema] = tail[2]
    return differences


def _verify_restored(manifest: Manifest) -> list[str]:
    """With the current code (after migrating): every chain that verified at backup time still verifies, and the
    lineage resolves to files in storage."""
    problems = []
    for schema, state in manifest.schemas.items():
        if state.audit is not None and state.audit.verified:
            head = inventory.audit_head(schema)
            if head is None or not head.verified:
                problems.append(
                    f"{schema}: the audit chain does not verify ({head.problem if head else 'no audit table'})"
                )
    known_missing = frozenset(item.name for item in manifest.missing_at_backup)
    return problems + lineage_problems(known_missing=known_missing)


def _preflight(manifest: Manifest, force: bool, log: Log) -> tuple[list[FileEntry], list[FileEntry], bool]:
    tables = _database_tables()
    write, present, conflicts = _storage_plan(manifest.files)
    refusals = []
    if tables and not force:
        shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
        refusals.append(
            f"the database {connection.settings_dict['NAME']} is not empty ({shown}); restore into a new, empty "
            "database, or pass --force to drop every schema in it first"
        )
    if conflicts and not force:
        refusals.append(
            f"{len(conflicts)} stored files differ from the backup's (e.g. {conflicts[0]}); "
            "pass --force to overwrite them"
        )
    if refusals:
        raise RestoreRefused("Restore refused; nothing was changed:\n  " + "\n  ".join(refusals))
    if tables:
        log(f"--force: dropping every schema of {connection.settings_dict['NAME']} ({len(tables)} tables)")
    return write, present, bool(tables)


def platform_restore(
    *, source: Path, force: bool = False, pg_bin: Path | None = None, check_only: bool = False, log: Log = print
) -> RestoreReport:
    """Restore the backup folder ``source`` into the configured database and storage (see the module doc)."""
    source = source.resolve()
    manifest = backup_verify(source)
    compat = compatibility((schema, state.migrations) for schema, state in manifest.schemas.items())
    if compat.problems:
        raise RestoreRefused("Restore refused; nothing was changed:\n  " + "\n  ".join(compat.problems))
    log(
        f"Backup verified: {source} (taken {manifest.created_at}; {len(manifest.schemas)} schemas, "
        f"{len(manifest.files)} files, every sha256 matches)"
    )
    for left_out in manifest.missing_at_backup:
        log(f"WARNING: left out when the backup was taken: {left_out.problem}")
    report = RestoreReport()
    if check_only:
        return report
    major, _version = server_version()
    dump_major = int(manifest.database.pg_dump_version.split(".")[0])
    pg_restore = pg_tool_find("pg_restore", max(major, dump_major), pg_bin)
    write, present, drop = _preflight(manifest, force, log)
    if drop:
        _schemas_drop()
    for entry in write:
        _storage_put(entry, source / FILES_DIR / entry.name)
    report.files_written, report.files_present = len(write), len(present)
    log(f"Files restored: {len(write)} written, {len(present)} already present")
    try:
        pg_tool_run(
            pg_restore,
            [
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                "--no-password",
                f"--dbname={connection.settings_dict['NAME']}",
                str(source / manifest.database.file),
            ],
        )
    except ToolError as exc:
        hint = (
            f" (pg_restore {pg_restore.version} is newer than the server's PostgreSQL {major}: install the "
            f"PostgreSQL {major} client tools and point BDT_PG_BIN_DIR or --pg-bin at them)"
            if pg_restore.major > major
            else ""
        )
        raise RestoreFailed(f"The database restore failed and was rolled back: {exc}{hint}") from exc
    connection.close()
    ContentType.objects.clear_cache()
    differences = _compare(manifest, report)
    if differences:
        raise RestoreFailed(
            "The restored database does not match the backup; do not use it (restore again with --force):\n  "
            + "\n  ".join(differences[:25])
        )
    report.schemas = len(manifest.schemas)
    log(f"Database restored and checked: {report.schemas} schemas, {report.rows:,} rows, audit heads match")
    if compat.pending:
        log(f"The backup is from an older release ({compat.pending} migrations to apply): migrating")
        call_command("migrate_schemas", interactive=False, verbosity=0)
        report.migrated = True
    problems = _verify_restored(manifest)
    if problems:
        raise RestoreFailed("The restored platform does not check out:\n  " + "\n  ".join(problems[:25]))
    log("Audit chains verify and every file lineage names is in storage")
    audit_event_record(
        action="platform.restored",
        schema_name=get_public_schema_name(),
        target_type="backup",
        target_repr=manifest.created_at,
        details={
            "backup_created_at": manifest.created_at,
            "dump_sha256": manifest.database.sha256,
            "schemas": report.schemas,
            "files": len(manifest.files),
            "migrated": report.migrated,
            "forced": force,
        },
    )
    log("Restore complete.")
    return report
