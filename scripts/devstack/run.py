"""``run``: services, migrations, demo data, then the web server + Celery worker + beat until Ctrl-C or a child dies.

The web server is gunicorn with DEBUG off and static files collected and served by WhiteNoise, as in production;
``run --dev`` (``make dev``) serves with Django's autoreloading development server and DEBUG on instead."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import IO

from .commands import child_env, options_from, summary_print
from .common import (
    BASE_PACKAGES,
    DevstackError,
    Paths,
    Service,
    metrics_dir_reset,
    port_busy,
    python_executable,
    require_modules,
    say,
    warn,
)
from .discovery import LOCAL_SETTINGS, choice_persist, embedded_baseline, embedded_stop_new, services_ensure
from .postgres import pg_embedded_pid
from .processes import pid_record, pid_recorded
from .redisdb import redis_embedded_pid
from .supervisor import ShutdownRequested, Supervisor, log_rotate

QUEUES = "default,ingest,queries,interactive"
DEMO_LOGIN = ("owner@demo.local", "demo-password-1")
WEB_WORKERS = "2"  # gunicorn processes x threads = requests served at once (and at most that many DB connections)
WEB_THREADS = "4"


# Idle keep-alive connections wait in gthread's poller (no thread is held), so a long keep-alive is cheap; a short one
# races with clients (and proxies) that reuse a connection just as the server closes it: "connection reset".
KEEP_ALIVE_SECONDS = "75"


def web_command(python: str, host: str, port: int, *, dev: bool, environ: Mapping[str, str] | None = None) -> list[str]:
    """The web server's command line: gunicorn like production, or Django's autoreloading server with ``dev``.

    gunicorn's threads are a fixed pool, so each holds at most one persistent database connection (the development
    server starts a thread per request, and each left a connection behind). ``BDT_DEV_WEB_WORKERS`` and
    ``BDT_DEV_WEB_THREADS`` size the pool."""
    if dev:
        return [python, "manage.py", "runserver", f"{host}:{port}"]
    env = os.environ if environ is None else environ
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return [
        python, "-m", "gunicorn", "bdt_project.wsgi:application",
        "--bind", bind,
        "--worker-class", "gthread",
        "--workers", env.get("BDT_DEV_WEB_WORKERS", WEB_WORKERS),
        "--threads", env.get("BDT_DEV_WEB_THREADS", WEB_THREADS),
        "--timeout", "120",
        "--graceful-timeout", "10",
        "--keep-alive", KEEP_ALIVE_SECONDS,
        "--access-logfile", "-",
        "--error-logfile", "-",
        "--no-control-socket",  # its default path is per user: two checkouts' servers would fight over it
    ]  # fmt: skip


def run_lock(paths: Paths) -> IO[str]:
    """Hold ``.bdt/run/devstack.lock`` for the lifetime of ``run`` (one run per checkout)."""
    handle = open(paths.run_dir / "devstack.lock", "a+")  # noqa: SIM115 - held until the run ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        pid = pid_recorded(paths.run_dir / "devstack.pid")
        raise DevstackError(
            f"another `devstack.py run`{f' (pid {pid})' if pid else ''} is active for this checkout; "
            "press Ctrl-C in its terminal or run `scripts/devstack.py stop`"
        ) from None
    pid_record(paths.run_dir / "devstack.pid", os.getpid())
    return handle


def http_wait(url: str, timeout: float, alive: Callable[[], bool], log_hint: str) -> tuple[int, str]:
    """Poll ``url`` until it answers (any HTTP status) while ``alive()``; return status and body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise DevstackError(f"the web server exited during start-up; see {log_hint}")
        try:
            with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - our own local URL
                return int(response.status), response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode("utf-8", errors="replace")
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise DevstackError(f"the web server did not answer {url} within {timeout:.0f} s; see {log_hint}")


def _demo_login(seed_output: str) -> tuple[str, str]:
    match = re.search(r"sign in as (\S+) / (\S+)", seed_output)
    return (match.group(1), match.group(2)) if match else DEMO_LOGIN


def banner_print(paths: Paths, host: str, port: int, postgres: Service, redis: Service, login: tuple[str, str]) -> None:
    """The block that tells the developer where everything is."""
    shown = "localhost" if host in {"127.0.0.1", "0.0.0.0", "::", "localhost"} else host
    url = f"http://{shown}:{port}/"
    logs = paths.short(paths.logs)
    lines = [
        f"BDT Platform is running:  {url}",
        f"  demo login   {login[0]} / {login[1]}   (also steward@, analyst@, researcher@, viewer@demo.local)",
        f"  health       {url}api/v1/health     API docs {url}api/v1/docs",
        f"  platform     http://platform.localhost:{port}/  (sign up, My workspaces; mail is written to .bdt/mail/)",
        f"  metrics      http://platform.localhost:{port}/metrics  (Authorization: Bearer <BDT_METRICS_TOKEN in .env>)",
        f"  PostgreSQL   {postgres.describe()}",
        f"  Redis        {redis.describe()}",
        f"  logs         {logs}/web.log (also shown here), {logs}/worker.log, {logs}/beat.log, {logs}/setup.log",
    ]
    if postgres.kind == "embedded":
        lines.append(f"               embedded PostgreSQL: {paths.short(paths.pgdata / 'log')}")
    if redis.kind == "embedded":
        lines.append(f"               embedded Redis: {logs}/redis.log")
    lines += [
        f"  services     saved in {paths.short(paths.env_file)}: manage.py commands in another terminal use them",
        "Press Ctrl-C to stop everything.",
    ]
    width = max(len(line) for line in lines) + 2
    print("\n" + "=" * width + "\n" + "\n".join(" " + line for line in lines) + "\n" + "=" * width + "\n", flush=True)


def cmd_run(args: argparse.Namespace, paths: Paths, extra: list[str]) -> int:
    """Services, migrations, demo data, then runserver + worker + beat until Ctrl-C or a child dies."""
    require_modules(BASE_PACKAGES)
    options = options_from(args)
    paths.ensure()
    if port_busy(args.host, args.port):
        raise DevstackError(
            f"port {args.port} on {args.host} is already in use; stop whatever listens there "
            f"or pick another port (scripts/devstack.py run --port N, or BDT_DEV_PORT=N make run)"
        )
    lock = run_lock(paths)
    metrics_dir_reset(paths, os.environ)  # only this run's processes write there from now on
    baseline = embedded_baseline(paths)
    supervisor = Supervisor(paths, os.environ)
    supervisor.signals_install()
    code = 0
    started = time.monotonic()
    try:
        postgres, redis = services_ensure(paths, os.environ, options)
        choice_persist(paths, postgres, redis)
        summary_print(postgres, redis)
        supervisor.env = child_env(paths, postgres, redis, LOCAL_SETTINGS)
        supervisor.env["DJANGO_DEBUG"] = "1" if args.dev else "0"  # make run serves like production
        if postgres.kind == "embedded":
            supervisor.watched["embedded PostgreSQL"] = lambda: pg_embedded_pid(paths.pgdata) is not None
        if redis.kind == "embedded":
            supervisor.watched["embedded Redis"] = lambda: redis_embedded_pid(paths) is not None
        login = _run_setup(supervisor, paths, args.no_seed, dev=args.dev)
        _run_processes(supervisor, paths, args.host, args.port, dev=args.dev)
        probe_host = "127.0.0.1" if args.host in {"0.0.0.0", "127.0.0.1", "localhost"} else args.host
        status, body = http_wait(
            f"http://{probe_host}:{args.port}/api/v1/health",
            120,
            lambda: supervisor.alive("web"),
            paths.short(paths.logs / "web.log"),
        )
        if status != 200:
            warn(f"the health check answered {status}: {body.strip()[:200]}")
        say(f"ready in {time.monotonic() - started:.1f} s")
        banner_print(paths, args.host, args.port, postgres, redis, login)
        problem = supervisor.watch()
        print(f"devstack: error: {problem}", file=sys.stderr, flush=True)
        say("shutting everything down")
        code = 1
    except ShutdownRequested as exc:
        print(flush=True)
        say(f"{exc} received: stopping everything this run started")
    except DevstackError as exc:
        print(f"devstack: error: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        supervisor.stopping = True
        supervisor.stop_all()
        for name in embedded_stop_new(paths, baseline):
            say(f"stopped {name}")
        lock.close()
        with contextlib.suppress(OSError):
            (paths.run_dir / "devstack.pid").unlink()
    say("all processes stopped" if code == 0 else "all processes stopped (exit code 1)")
    return code


def _run_setup(supervisor: Supervisor, paths: Paths, no_seed: bool, *, dev: bool) -> tuple[str, str]:
    """Migrate the shared schema, then every tenant schema, collect static files (not in dev mode, which serves
    them from the apps), then seed the demo lab (idempotent)."""
    log = paths.logs / "setup.log"
    log_rotate(log)
    manage = [python_executable(), "manage.py"]
    supervisor.run_step("migrate-shared", "migrate_schemas --shared", [*manage, "migrate_schemas", "--shared"], log)
    supervisor.run_step("migrate-tenants", "migrate_schemas (all tenants)", [*manage, "migrate_schemas"], log)
    if not dev:
        supervisor.run_step("collectstatic", "collectstatic", [*manage, "collectstatic", "--noinput", "-v", "0"], log)
    if no_seed:
        return DEMO_LOGIN
    return _demo_login(supervisor.run_step("seed", "seed_demo", [*manage, "seed_demo"], log))


def _run_processes(supervisor: Supervisor, paths: Paths, host: str, port: int, *, dev: bool) -> None:
    """Start the worker, beat and the web server, each in its own process group."""
    python = python_executable()
    celery = [python, "-m", "celery", "-A", "bdt_project"]
    supervisor.spawn(
        "worker",
        [*celery, "worker", "-Q", QUEUES, "--concurrency", "2", "--loglevel", "INFO", "-n", f"devstack-{port}@%h"],
        log=paths.logs / "worker.log",
        stop_timeout=30,
        ready_marker=" ready.",
        ready_message=f"Celery worker ready (queues {QUEUES}); log {paths.short(paths.logs / 'worker.log')}",
    )
    supervisor.spawn(
        "beat",
        [*celery, "beat", "--loglevel", "INFO", "--schedule", str(paths.state / "celerybeat-schedule")],
        log=paths.logs / "beat.log",
        stop_timeout=10,
    )
    supervisor.spawn(
        "web",
        web_command(python, host, port, dev=dev, environ=supervisor.env),
        log=paths.logs / "web.log",
        tee=True,
        stop_timeout=10,
    )
