"""Real Celery worker processes for the tests that prove the worker path (pytest plugin)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
ALL_QUEUES = "default,ingest,queries,interactive"


def wait_for(predicate: Callable[[], Any], timeout: float = 120.0, step: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned) or ``timeout`` seconds pass (test fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not reached within {timeout} s")


def worker_start(
    db_name: str,
    queues: str = ALL_QUEUES,
    name: str = "test",
    *,
    pool: str = "solo",
    concurrency: int = 1,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``celery worker`` on ``queues`` against the test database and wait until it answers pings.

    ``pool="prefork"`` runs tasks in child processes (the production pool: the guard may kill a child, Celery's
    hard time limit applies); ``env`` adds environment variables, e.g. ``BDT_WORKER_MEMORY_LIMIT``."""
    from bdt_project.celery import app

    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "bdt_project.settings.test", **(env or {})}
    if db_name:
        environ["BDT_TEST_DB_NAME"] = db_name
    log_path = Path(settings.TEST_LOG_DIR) / f"worker-{name}.log"  # per test database: shards run side by side
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115
    node = f"{name}-{os.getpid()}@localhost"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "bdt_project", "worker", "-Q", queues, "--pool", pool,
            "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "-n", node,
        ],
        cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited with {process.returncode}; see {log_path}")
        if app.control.ping(destination=[node], timeout=0.5):
            process.node = node  # type: ignore[attr-defined]
            return process
    process.kill()
    process.wait(timeout=10)
    raise RuntimeError("celery worker did not become ready within 60 s")


def worker_children(process: subprocess.Popen[bytes]) -> list[int]:
    """Pids of a prefork worker's pool children."""
    try:
        text = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text()
    except OSError:
        return []
    return [int(pid) for pid in text.split()]


def worker_stop(process: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    """Stop a worker: warm shutdown, or SIGKILL to simulate a crash."""
    if process.poll() is not None:
        return
    if kill:
        process.send_signal(signal.SIGKILL)
    else:
        process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def test_db_name(django_db_setup: None, django_db_blocker: Any) -> str:
    with django_db_blocker.unblock():
        return str(connection.settings_dict["NAME"])


@pytest.fixture(scope="session")
def celery_worker(test_db_name: str) -> Iterator[subprocess.Popen[bytes]]:
    """One worker on all queues for the whole session."""
    process = worker_start(test_db_name)
    yield process
    worker_stop(process)
