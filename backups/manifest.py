"""The backup's manifest: what a backup holds, and the check that a backup folder still is what it says.

A backup is a folder::

    manifest.json        this manifest (format, database dump, schemas with row counts, audit heads, migrations, files)
    manifest.sha256      sha256 of manifest.json (a truncated or edited manifest is caught before it is trusted)
    database.dump        pg_dump custom-format archive of the whole database (every schema), one snapshot
    files/<name>         every file that lineage names, under its storage name

Nothing in the folder is trusted before :func:`backup_verify` has compared it with the manifest.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FORMAT = "bdt-platform-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_CHECKSUM = "manifest.sha256"
DUMP = "database.dump"
FILES_DIR = "files"
CHUNK = 1024 * 1024

# Storage names the platform writes: "tenants/<schema>/..." with plain path segments (no "..", no absolute paths).
_NAME_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuditHead(_Strict):
    """The end of one schema's audit chain: how many events, the last one's id and hash, and whether it verified."""

    events: int
    head_id: int | None
    head_hash: str
    verified: bool
    problem: str = ""


class SchemaState(_Strict):
    """One PostgreSQL schema: rows per table, its audit chain head (if it has one) and its applied migrations."""

    tables: dict[str, int]
    audit: AuditHead | None = None
    migrations: list[str] = Field(default_factory=list)


class FileEntry(_Strict):
    """A file lineage names: storage name, content hash and size (as the database records them), and who names it."""

    name: str
    sha256: str
    size: int
    schema_name: str
    kind: str
    label: str


class LeftOut(_Strict):
    """A file lineage names that was missing or altered in storage when the backup was taken (--allow-missing)."""

    name: str
    problem: str


class DatabaseDump(_Strict):
    file: str
    sha256: str
    size: int
    server_version: str
    pg_dump_version: str


class Manifest(_Strict):
    """Everything a restore needs to prove it gave back what was backed up."""

    format: str
    format_version: int
    created_at: str
    database: DatabaseDump
    schemas: dict[str, SchemaState]
    files: list[FileEntry]
    missing_at_backup: list[LeftOut] = Field(default_factory=list)


class BackupInvalid(Exception):
    """A backup folder that does not verify; ``problems`` names every missing or altered part."""

    def __init__(self, source: Path, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:25] + ([f"... and {len(problems) - 25} more"] if len(problems) > 25 else [])
        super().__init__(f"The backup {source} does not verify:\n  " + "\n  ".join(shown))


def storage_name_valid(name: str) -> bool:
    """Whether ``name`` is a relative storage name without tricks (used before reading or writing it)."""
    segments = name.split("/")
    return name.startswith("tenants/") and all(_NAME_SEGMENT.match(s) for s in segments)


def file_digest(path: Path) -> tuple[str, int]:
    """sha256 and size of a local file (streaming)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def manifest_write(folder: Path, manifest: Manifest) -> None:
    """Write the manifest and its checksum."""
    text = json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    (folder / MANIFEST).write_text(text, encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    (folder / MANIFEST_CHECKSUM).write_text(f"{digest}  {MANIFEST}\n", encoding="utf-8")


def _manifest_read(folder: Path) -> Manifest:
    path, checksum = folder / MANIFEST, folder / MANIFEST_CHECKSUM
    if not folder.is_dir():
        raise BackupInvalid(folder, ["the backup folder does not exist"])
    missing = [p.name for p in (path, checksum) if not p.is_file()]
    if missing:
        raise BackupInvalid(folder, [f"missing: {name}" for name in missing])
    recorded = checksum.read_text(encoding="utf-8").split()[:1]
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if recorded != [actual]:
        raise BackupInvalid(folder, [f"altered: {MANIFEST} (its sha256 does not match {MANIFEST_CHECKSUM})"])
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise BackupInvalid(
            folder, [f"{MANIFEST} is not a platform backup manifest: {exc.errors()[0]['msg']}"]
        ) from None
    if manifest.format != FORMAT or manifest.format_version != FORMAT_VERSION:
        raise BackupInvalid(
            folder, [f"unsupported backup format {manifest.format!r} version {manifest.format_version}"]
        )
    return manifest


def _file_problem(path: Path, label: str, sha256: str, size: int) -> str | None:
    if not path.is_file():
        return f"missing: {label}"
    actual_sha, actual_size = file_digest(path)
    if actual_size != size or actual_sha != sha256:
        return (
            f"altered: {label}: expected {size} bytes with sha256 {sha256[:12]}…, "
            f"found {actual_size} bytes with sha256 {actual_sha[:12]}…"
        )
    return None


def backup_verify(folder: Path) -> Manifest:
    """Check the manifest's checksum, then the dump and every file against it. Raises BackupInvalid naming every
    missing or altered part (and every file present that the manifest does not list)."""
    manifest = _manifest_read(folder)
    problems: list[str] = []
    dump = manifest.database
    problem = _file_problem(folder / dump.file, f"{dump.file} (the database dump)", dump.sha256, dump.size)
    if dump.file != DUMP or problem:
        problems.append(problem or f"unexpected database file name {dump.file!r}")
    listed: set[str] = set()
    for entry in manifest.files:
        if not storage_name_valid(entry.name):
            problems.append(f"unsafe file name in the manifest: {entry.name!r}")
            continue
        listed.add(entry.name)
        label = f"{FILES_DIR}/{entry.name} ({entry.label} in {entry.schema_name})"
        problem = _file_problem(folder / FILES_DIR / entry.name, label, entry.sha256, entry.size)
        if problem:
            problems.append(problem)
    files_root = folder / FILES_DIR
    if files_root.is_dir():
        for path in sorted(files_root.rglob("*")):
            name = path.relative_to(files_root).as_posix()
            if path.is_file() and name not in listed:
                problems.append(f"unexpected: {FILES_DIR}/{name} (not in the manifest)")
    if problems:
        raise BackupInvalid(folder, problems)
    return manifest
