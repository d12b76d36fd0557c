"""Service discovery, the same for every subcommand. For PostgreSQL and Redis independently:

(a) ``DATABASE_URL`` / ``REDIS_URL`` from the environment (must be usable, else an error; the URL of the saved
    embedded server, e.g. from an exported ``.env``, restarts it);
(b) the choice saved in ``.env`` by a previous run, if it still answers (a saved embedded server is restarted);
(c) local servers on 127.0.0.1:5432 (user postgres) and 127.0.0.1:6379;
(d) embedded servers under ``.bdt/``.

``BDT_FORCE_EMBEDDED=1`` skips (b) and (c).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .common import (
    DevstackError,
    Paths,
    Service,
    env_file_read,
    env_file_update,
    say,
    secret_key_new,
    state_load,
    state_save,
    url_redact,
    warn,
)
from .postgres import pg_embedded_exists, pg_embedded_pid, pg_embedded_start, pg_embedded_stop, pg_ensure, pg_local_url
from .redisdb import (
    LOCAL_PORT,
    redis_embedded_pid,
    redis_embedded_start,
    redis_embedded_stop,
    redis_local_url,
    redis_ping,
)

LOCAL_SETTINGS = "bdt_project.settings.local"


@dataclass(frozen=True)
class Options:
    """Knobs of discovery (from the command line or ``BDT_DEV_*`` / ``BDT_FORCE_EMBEDDED``)."""

    db_name: str = "bdt"
    redis_db: int = 0
    force_embedded: bool = False


@dataclass(frozen=True)
class EmbeddedBaseline:
    """Which embedded servers ran before this invocation (those are never stopped by it)."""

    postgres: bool
    redis: bool


def embedded_baseline(paths: Paths) -> EmbeddedBaseline:
    """Record which embedded servers are running now."""
    return EmbeddedBaseline(
        postgres=pg_embedded_pid(paths.pgdata) is not None, redis=redis_embedded_pid(paths) is not None
    )


def embedded_stop_new(paths: Paths, baseline: EmbeddedBaseline) -> list[str]:
    """Stop the embedded servers that run now but did not before (also after an interrupted start)."""
    stopped = []
    if not baseline.redis and redis_embedded_stop(paths):
        stopped.append("embedded Redis")
    if not baseline.postgres and pg_embedded_stop(paths):
        stopped.append("embedded PostgreSQL")
    return stopped


def _db_name_of(url: str) -> str | None:
    name = urlsplit(url).path.lstrip("/")
    return name or None


def postgres_discover(
    paths: Paths, environ: Mapping[str, str], saved: Mapping[str, str], state: Mapping[str, Any], options: Options
) -> Service:
    """Choose the PostgreSQL server (see the module docstring for the order)."""
    record = state.get("postgres") or {}
    url = environ.get("DATABASE_URL")
    if url and record.get("kind") == "embedded" and record.get("url") == url and pg_embedded_exists(paths):
        return pg_embedded_start(paths, _db_name_of(url) or options.db_name)  # .env was exported into the shell
    if url:
        problem = pg_ensure(url)
        if problem:
            raise DevstackError(f"DATABASE_URL is set but that PostgreSQL is not usable: {problem}")
        return Service("PostgreSQL", url, "env", f"from DATABASE_URL: {url_redact(url)}")
    saved_url = saved.get("DATABASE_URL")
    if saved_url and not options.force_embedded:
        recorded = record.get("url") == saved_url
        if recorded and record.get("kind") == "embedded":
            if pg_embedded_exists(paths):
                return pg_embedded_start(paths, _db_name_of(saved_url) or options.db_name)
            warn(f"the embedded PostgreSQL saved in .env has no data directory ({paths.short(paths.pgdata)}) any more")
        elif (problem := pg_ensure(saved_url)) is None:
            kind = str(record.get("kind")) if recorded else "saved"
            where = "local server 127.0.0.1:5432" if kind == "local" else url_redact(saved_url)
            return Service(
                "PostgreSQL", saved_url, kind, f"{where}, database {_db_name_of(saved_url)} (reused from .env)"
            )
        else:
            warn(f"the PostgreSQL saved in .env ({url_redact(saved_url)}) is not usable ({problem}); looking again")
    if options.force_embedded:
        say("BDT_FORCE_EMBEDDED is set: using the embedded PostgreSQL")
    else:
        local = pg_local_url(options.db_name)
        problem = pg_ensure(local)
        if problem is None:
            return Service("PostgreSQL", local, "local", f"local server 127.0.0.1:5432, database {options.db_name}")
        say(f"no usable local PostgreSQL on 127.0.0.1:5432 ({problem}); using the embedded one")
    return pg_embedded_start(paths, options.db_name)


def redis_discover(
    paths: Paths, environ: Mapping[str, str], saved: Mapping[str, str], state: Mapping[str, Any], options: Options
) -> Service:
    """Choose the Redis server (see the module docstring for the order)."""
    record = state.get("redis") or {}
    url = environ.get("REDIS_URL")
    preferred_port = record.get("port") if record.get("kind") == "embedded" else None
    if url and preferred_port and record.get("url") == url:
        return redis_embedded_start(paths, _redis_db_of(url, options.redis_db), preferred_port)  # .env exported
    if url:
        problem = redis_ping(url)
        if problem:
            raise DevstackError(f"REDIS_URL is set but that Redis is not answering: {problem}")
        return Service("Redis", url, "env", f"from REDIS_URL: {url_redact(url)}")
    saved_url = saved.get("REDIS_URL")
    if saved_url and not options.force_embedded:
        recorded = record.get("url") == saved_url
        db = _redis_db_of(saved_url, options.redis_db)
        if recorded and record.get("kind") == "embedded":
            return redis_embedded_start(paths, db, preferred_port)
        if (problem := redis_ping(saved_url)) is None:
            kind = str(record.get("kind")) if recorded else "saved"
            where = f"local server 127.0.0.1:{LOCAL_PORT}, db {db}" if kind == "local" else url_redact(saved_url)
            return Service("Redis", saved_url, kind, f"{where} (reused from .env)")
        warn(f"the Redis saved in .env ({url_redact(saved_url)}) is not answering ({problem}); looking again")
    if not options.force_embedded:
        local = redis_local_url(options.redis_db)
        problem = redis_ping(local)
        if problem is None:
            return Service("Redis", local, "local", f"local server 127.0.0.1:{LOCAL_PORT}, db {options.redis_db}")
        say(f"no local Redis on 127.0.0.1:{LOCAL_PORT} ({problem}); using the embedded one")
    return redis_embedded_start(paths, options.redis_db, preferred_port)


def _redis_db_of(url: str, default: int) -> int:
    path = urlsplit(url).path.lstrip("/")
    return int(path) if path.isdigit() else default


def services_ensure(paths: Paths, environ: Mapping[str, str], options: Options) -> tuple[Service, Service]:
    """Find or start PostgreSQL and Redis."""
    saved = env_file_read(paths.env_file)
    state = state_load(paths)
    postgres = postgres_discover(paths, environ, saved, state, options)
    redis = redis_discover(paths, environ, saved, state, options)
    return postgres, redis


def choice_persist(paths: Paths, postgres: Service, redis: Service) -> None:
    """Save the choice in ``.env`` (read by the settings) and its kind in ``.bdt/devstack.json``."""
    saved = env_file_read(paths.env_file)
    env_file_update(
        paths.env_file,
        {
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "DJANGO_SETTINGS_MODULE": LOCAL_SETTINGS,
            "DJANGO_SECRET_KEY": saved.get("DJANGO_SECRET_KEY") or secret_key_new(),
            # Bearer token of GET /metrics on the platform host (docs/operations.md, monitoring).
            "BDT_METRICS_TOKEN": saved.get("BDT_METRICS_TOKEN") or secret_key_new(),
            # Locally anyone may sign up on the platform host (mail goes to files in .bdt/mail/); off in production.
            "BDT_SELF_SIGNUP_ALLOWED": saved.get("BDT_SELF_SIGNUP_ALLOWED") or "1",
        },
    )
    redis_record: dict[str, Any] = {"kind": redis.kind, "url": redis.url}
    if redis.kind == "embedded":
        redis_record["port"] = urlsplit(redis.url).port
    state_save(paths, {"postgres": {"kind": postgres.kind, "url": postgres.url}, "redis": redis_record})
