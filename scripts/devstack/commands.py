"""``test``, ``services`` and ``stop``, plus pieces shared with ``run``."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping
from types import FrameType
from urllib.parse import urlsplit

from .common import (
    BASE_PACKAGES,
    DevstackError,
    Paths,
    Service,
    env_file_read,
    python_executable,
    require_modules,
    say,
    warn,
)
from .discovery import Options, choice_persist, embedded_baseline, embedded_stop_new, services_ensure
from .postgres import pg_embedded_stop
from .processes import group_kill, pid_alive, pid_recorded, pid_wait_gone
from .redisdb import redis_embedded_stop, redis_url_with_db
from .shards import Shard, shards_plan, shards_run, shards_stop
from .supervisor import STOP_SIGNALS, ShutdownRequested

TEST_SETTINGS = "bdt_project.settings.test"
TEST_REDIS_DB = 15
DEFAULT_SHARDS = 2
APP_CHILDREN = ("web", "worker", "beat", "migrate-shared", "migrate-tenants", "seed")


def options_from(args: argparse.Namespace) -> Options:
    """Discovery options from the parsed command line."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", args.db_name):
        raise DevstackError(f"--db-name {args.db_name!r} is not a plain database name (letters, digits, _)")
    if not 0 <= args.redis_db <= 15:
        raise DevstackError("--redis-db must be between 0 and 15")
    return Options(db_name=args.db_name, redis_db=args.redis_db, force_embedded=args.embedded)


def summary_print(postgres: Service, redis: Service) -> None:
    """Say which services are used."""
    say(f"PostgreSQL: {postgres.describe()}")
    say(f"Redis:      {redis.describe()}")


def child_env(paths: Paths, postgres: Service, redis: Service, settings_module: str) -> dict[str, str]:
    """The environment of every child: the chosen services win over anything in ``.env``."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=postgres.url,
        REDIS_URL=redis.url,
        DJANGO_SETTINGS_MODULE=settings_module,
        PYTHONUNBUFFERED="1",
    )
    secret = os.environ.get("DJANGO_SECRET_KEY") or env_file_read(paths.env_file).get("DJANGO_SECRET_KEY")
    if secret:
        env["DJANGO_SECRET_KEY"] = secret
    return env


def shard_count(environ: Mapping[str, str], pytest_args: list[str]) -> int:
    """How many pytest sessions run side by side: ``BDT_TEST_SHARDS`` (default 2) for the whole suite, one when
    pytest is given arguments (a directory, a test, ``-k``: the developer's own selection)."""
    if pytest_args:
        return 1
    text = environ.get("BDT_TEST_SHARDS", "").strip() or str(DEFAULT_SHARDS)
    if not text.isdigit() or not 1 <= int(text) <= 8:
        raise DevstackError(f"BDT_TEST_SHARDS={text!r} is not a number of shards between 1 and 8")
    return int(text)


def cmd_test(args: argparse.Namespace, paths: Paths, pytest_args: list[str]) -> int:
    """Run pytest against the discovered services (the whole suite: in shards side by side, ``shards.py``); stop
    the embedded servers it started; pytest's exit code (of the first shard that failed)."""
    require_modules((*BASE_PACKAGES, "pytest", "pytest_django"))
    options = options_from(args)
    paths.ensure()
    baseline = embedded_baseline(paths)
    child: subprocess.Popen[bytes] | None = None
    shards: list[Shard] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if shards:
            shards_stop(shards, signum)
            return
        if child is None:
            raise ShutdownRequested(signum)
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signum)  # pytest handles Ctrl-C itself (summary, fixture teardown)

    for signum in STOP_SIGNALS:
        signal.signal(signum, on_signal)
    code = 1
    try:
        postgres, redis = services_ensure(paths, os.environ, options)
        summary_print(postgres, redis)
        env = child_env(paths, postgres, redis, TEST_SETTINGS)
        env["BDT_TEST_REDIS_URL"] = os.environ.get("BDT_TEST_REDIS_URL") or redis_url_with_db(redis.url, TEST_REDIS_DB)
        count = shard_count(os.environ, pytest_args)
        if count > 1:
            plan = shards_plan(paths.root, paths.state / "test-logs", env, count)
            for shard in plan:
                test_db = "test_" + (urlsplit(shard.env["DATABASE_URL"]).path.lstrip("/") or "postgres")
                say(f"shard {shard.number} uses database {test_db} and Redis {shard.env['BDT_TEST_REDIS_URL']}")
            shards.extend(plan)
            return shards_run(shards, paths.root, pytest_args)
        test_db = "test_" + (urlsplit(postgres.url).path.lstrip("/") or "postgres")
        say(f"tests use database {test_db} (created by pytest-django) and Redis {env['BDT_TEST_REDIS_URL']}")
        argv = [python_executable(), "-m", "pytest", *pytest_args]
        say("running: " + " ".join(["python", *argv[1:]]))
        child = subprocess.Popen(argv, cwd=paths.root, env=env, start_new_session=True)
        code = child.wait()
        code = 128 - code if code < 0 else code
    except ShutdownRequested as exc:
        say(f"{exc} received before the tests started")
        code = 130
    except DevstackError as exc:
        print(f"devstack: error: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        if child is not None and child.poll() is None:
            child.terminate()
            child.wait()
        for shard in shards:
            if shard.process is not None and shard.process.poll() is None:
                shard.process.terminate()
                shard.process.wait()
        for name in embedded_stop_new(paths, baseline):
            say(f"stopped {name}")
    return code


def cmd_services(args: argparse.Namespace, paths: Paths, extra: list[str]) -> int:
    """Find or start the services, save the choice in ``.env`` and print the URLs (embedded servers keep running)."""
    require_modules(BASE_PACKAGES)
    postgres, redis = services_ensure(paths, os.environ, options_from(args))
    choice_persist(paths, postgres, redis)
    summary_print(postgres, redis)
    say(f"saved in {paths.short(paths.env_file)}")
    if "embedded" in {postgres.kind, redis.kind}:
        say("embedded servers keep running; `scripts/devstack.py stop` stops them")
    print(f"DATABASE_URL={postgres.url}")
    print(f"REDIS_URL={redis.url}")
    return 0


def cmd_stop(args: argparse.Namespace, paths: Paths, extra: list[str]) -> int:
    """Stop an active ``run`` (it cleans up after itself), leftovers of a killed run, and the embedded servers."""
    stopped: list[str] = []
    run_pid = pid_recorded(paths.run_dir / "devstack.pid")
    if run_pid and run_pid != os.getpid() and _run_active(paths):
        say(f"asking the active run (pid {run_pid}) to stop ...")
        os.kill(run_pid, signal.SIGTERM)
        if not pid_wait_gone(run_pid, 60):
            warn(f"run (pid {run_pid}) is still stopping after 60 s")
        stopped.append(f"run (pid {run_pid})")
    for name in APP_CHILDREN:
        pid = pid_recorded(paths.run_dir / f"{name}.pid")
        if pid and pid_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
            if not pid_wait_gone(pid, 20):
                group_kill(pid)
            group_kill(pid)
            stopped.append(f"leftover {name} (pid {pid})")
        with contextlib.suppress(OSError):
            (paths.run_dir / f"{name}.pid").unlink()
    if redis_embedded_stop(paths):
        stopped.append("embedded Redis")
    if pg_embedded_stop(paths):
        stopped.append("embedded PostgreSQL")
    say("stopped: " + ", ".join(stopped) if stopped else "nothing was running")
    return 0


def _run_active(paths: Paths) -> bool:
    """True when some process holds the run lock."""
    lock_path = paths.run_dir / "devstack.lock"
    if not lock_path.exists():
        return False
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False
