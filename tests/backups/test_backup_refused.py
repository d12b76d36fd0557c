"""A backup that is incomplete, altered, forged or from an unsupported release is refused with a message that names
what is wrong, and nothing is written to the target database or storage. A backup whose storage lost a file is
refused too, unless the operator accepts it (--allow-missing), and then the restore says so."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.management.base import CommandError

from backups.inventory import database_schemas, schema_tables
from tests.backups.conftest import Drill, backup_take, manifest_read, restore
from tests.backups.databases import fresh_database


def _manifest_edit(folder: Path, change: Callable[[dict[str, Any]], None], *, forge_checksum: bool) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    path.write_text(text)
    if forge_checksum:
        digest = hashlib.sha256(text.encode()).hexdigest()
        (folder / "manifest.sha256").write_text(f"{digest}  manifest.json\n")


def _first(drill: Drill, kind: str, schema: str = "t_drill_a") -> Any:
    return next(e for e in drill.manifest.files if e.kind == kind and e.schema_name == schema)


def _flip_parquet(drill: Drill, folder: Path) -> str:
    entry = _first(drill, "version_parquet")
    path = folder / "files" / entry.name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return f"altered: files/{entry.name} (Parquet of {entry.label.split(' of ', 1)[1]} in t_drill_a): expected"


def _drop_result(drill: Drill, folder: Path) -> str:
    entry = _first(drill, "run_result")
    (folder / "files" / entry.name).unlink()
    return f"missing: files/{entry.name} ({entry.label} in t_drill_a)"


def _truncate_dump(drill: Drill, folder: Path) -> str:
    path = folder / "database.dump"
    path.write_bytes(path.read_bytes()[:-100])
    return f"altered: database.dump (the database dump): expected {drill.manifest.database.size} bytes"


def _edit_counts(drill: Drill, folder: Path) -> str:
    _manifest_edit(folder, lambda m: m["schemas"]["t_drill_a"]["tables"].update(datasets_study=5), forge_checksum=False)
    return "altered: manifest.json (its sha256 does not match manifest.sha256)"


def _lose_checksum(drill: Drill, folder: Path) -> str:
    (folder / "manifest.sha256").unlink()
    return "missing: manifest.sha256"


def _extra_file(drill: Drill, folder: Path) -> str:
    (folder / "files" / "tenants" / "t_drill_a" / "planted.csv").write_text("x\n")
    return "unexpected: files/tenants/t_drill_a/planted.csv (not in the manifest)"


def _escape_storage(drill: Drill, folder: Path) -> str:
    def change(m: dict[str, Any]) -> None:
        m["files"][0]["name"] = "tenants/../../../etc/cron.d/planted"

    _manifest_edit(folder, change, forge_checksum=True)
    return "unsafe file name in the manifest: 'tenants/../../../etc/cron.d/planted'"


def _from_the_future(drill: Drill, folder: Path) -> str:
    _manifest_edit(
        folder, lambda m: m["schemas"]["t_drill_a"]["migrations"].append("queries.9999_future"), forge_checksum=True
    )
    return "the backup was made by a newer release (migrations this code does not have: queries.9999_future)"


def _too_old(drill: Drill, folder: Path) -> str:
    _manifest_edit(
        folder, lambda m: m["schemas"]["t_drill_b"]["migrations"].remove("datasets.0003_delimiter"), forge_checksum=True
    )
    return "the backup is older than release 0.1, the oldest this code upgrades (it lacks datasets.0003_delimiter)"


def _not_a_backup(drill: Drill, folder: Path) -> str:
    _manifest_edit(folder, lambda m: m.update(format="something-else"), forge_checksum=True)
    return "unsupported backup format 'something-else'"


CASES = {
    "altered parquet": _flip_parquet,
    "missing result file": _drop_result,
    "truncated dump": _truncate_dump,
    "edited manifest": _edit_counts,
    "manifest checksum lost": _lose_checksum,
    "planted file": _extra_file,
    "path escape": _escape_storage,
    "newer release": _from_the_future,
    "older than supported": _too_old,
    "not a backup": _not_a_backup,
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_backup_is_refused_and_nothing_is_written(
    case: str, drill: Drill, django_db_blocker: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "backup"
    shutil.copytree(drill.backup, folder)
    expected = CASES[case](drill, folder)
    with django_db_blocker.unblock(), fresh_database("tamper", tmp_path / "target"):
        with pytest.raises(CommandError) as refused:
            restore(folder)
        assert expected in str(refused.value)
        assert "nothing was" in str(refused.value).lower()
        assert all(not schema_tables(schema) for schema in database_schemas())
        assert not default_storage.exists("tenants")


def test_check_only_verifies_without_touching_anything(drill: Drill, django_db_blocker: Any, tmp_path: Path) -> None:
    with django_db_blocker.unblock(), fresh_database("check", tmp_path / "target"):
        output = restore(drill.backup, "--check")
        assert "Backup verified" in output and "every sha256 matches" in output
        assert all(not schema_tables(schema) for schema in database_schemas())


def test_a_forged_manifest_is_caught_after_the_restore(drill: Drill, django_db_blocker: Any, tmp_path: Path) -> None:
    """Someone rewrote the manifest and its checksum: the restored rows do not match it, and the restore says so."""
    folder = tmp_path / "backup"
    shutil.copytree(drill.backup, folder)
    _manifest_edit(folder, lambda m: m["schemas"]["t_drill_a"]["tables"].update(datasets_study=5), forge_checksum=True)
    with (
        django_db_blocker.unblock(),
        fresh_database("forged", tmp_path / "target"),
        pytest.raises(CommandError) as failed,
    ):
        restore(folder)
    message = str(failed.value)
    assert "The restored database does not match the backup; do not use it" in message
    assert "t_drill_a.datasets_study: the backup has 5 rows, the restored database 2" in message


def test_a_backup_with_a_file_gone_from_storage_is_refused_unless_accepted(
    drill: Drill, django_db_blocker: Any, tmp_path: Path
) -> None:
    assert f"missing in storage: {drill.lost_file} (result of run" in drill.refused_backup
    assert "--allow-missing" in drill.refused_backup
    assert not (drill.root / "refused").exists()  # nothing half-written at the destination
    assert not list(drill.root.glob(".refused.partial-*"))
    partial = manifest_read(drill.partial_backup)
    assert [item.name for item in partial.missing_at_backup] == [drill.lost_file]
    assert drill.lost_file not in {entry.name for entry in partial.files}
    with django_db_blocker.unblock(), fresh_database("partial", tmp_path / "target"):
        output = restore(drill.partial_backup)
    assert f"WARNING: left out when the backup was taken: missing in storage: {drill.lost_file}" in output
    assert "Restore complete" in output


def test_a_backup_never_overwrites_a_folder(drill: Drill, django_db_blocker: Any, tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with django_db_blocker.unblock(), pytest.raises(CommandError) as refused:
        backup_take(target)
    assert "already exists and is not empty" in str(refused.value)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_missing_postgresql_tools_are_named(drill: Drill, django_db_blocker: Any, tmp_path: Path) -> None:
    with django_db_blocker.unblock(), pytest.raises(CommandError) as failed:
        backup_take(tmp_path / "out", "--pg-bin", str(tmp_path / "no-tools"))
    message = str(failed.value)
    assert "No pg_dump of PostgreSQL" in message and str(tmp_path / "no-tools") in message
    assert "BDT_PG_BIN_DIR" in message
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


def test_a_failed_database_restore_leaves_the_database_empty(
    drill: Drill, django_db_blocker: Any, tmp_path: Path
) -> None:
    """pg_restore runs in one transaction: when it fails (here: a pg_restore 17+ against an older server, which
    rejects a setting the tool sends), nothing of the dump stays behind, and the message says how to fix it."""
    from backups.pgtools import PgTool, _embedded_bin, _tool_version, server_version

    embedded = _embedded_bin()
    found = _tool_version(embedded / "pg_restore") if embedded else None
    with django_db_blocker.unblock():
        server = server_version()[0]
    if found is None or found[1] < 17 or server >= 17:
        pytest.skip("needs a pg_restore 17+ (embedded PostgreSQL) and an older server")
    tool = PgTool(path=embedded / "pg_restore", version=found[0], major=found[1])  # type: ignore[operator]
    with django_db_blocker.unblock(), fresh_database("failed", tmp_path / "target"):
        with pytest.raises(CommandError) as failed:
            restore(drill.backup, "--pg-bin", str(tool.path.parent))
        assert all(not schema_tables(schema) for schema in database_schemas())
    message = str(failed.value)
    assert "The database restore failed and was rolled back" in message
    assert f"pg_restore {tool.version} is newer than the server's PostgreSQL {server}" in message
