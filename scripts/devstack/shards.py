"""The whole suite in shards side by side (``make test`` without pytest arguments).

Most of the suite's time is spent waiting: on Celery workers, gunicorn, Chromium, the JVM of Spark and PostgreSQL.
Two pytest sessions side by side keep both cores of a small machine busy. Each shard is a suite of its own: its own
test database (``<database>_shard<N>``), its own Redis database, and therefore (test settings) its own storage,
cache, scratch, metrics and log folders. Directories are dealt to shards by their measured time
(``DIRECTORY_SECONDS``), so no directory runs twice and every directory runs once.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .common import DevstackError, python_executable, say
from .redisdb import redis_url_with_db

#: Seconds each test directory took in a shard of `.ci/run` on this project's 2-core machine: the mean of two runs'
#: JUnit reports (2026-12-06, ``measured_seconds``; the browser, fuzzing and live-stack directories vary most with the
#: machine's load). Only the balance of the shards depends on them; a directory missing here counts as
#: ``UNKNOWN_SECONDS``.
DIRECTORY_SECONDS: dict[str, float] = {
    "e2e": 345,
    "queries_core": 253,
    "fuzz": 208,
    "live": 206,
    "access": 159,
    "queries": 106,
    "harmonization": 93,
    "bdt_compat": 82,
    "backups": 72,
    "tenants": 66,
    "sharing": 58,
    "object_storage": 57,
    "portal": 56,
    "client": 54,
    "datasets": 52,
    "analysis": 38,
    "connectors": 35,
    "approvals": 30,
    "audit": 26,
    "hardening": 24,
    "demo": 23,
    "monitoring": 22,
    "datasets_pages": 22,
    "ux": 13,
    "datasets_core": 12,
    "queries_pages": 10,
    "deploy": 2,
    "access_core": 1,
    "core": 1,
}
UNKNOWN_SECONDS = 20.0
PROGRESS = re.compile(r"\[\s*(\d{1,3})%\]")


@dataclass
class Shard:
    """One pytest session of the suite: its arguments, environment, log file and process."""

    number: int
    paths: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def state(self) -> str:
        """ "done", or the last progress percentage pytest printed ("starting" before the first)."""
        if self.process is not None and self.process.poll() is not None:
            return "done"
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return "starting"
        found = PROGRESS.findall(text)
        return f"{found[-1]}%" if found else "starting"

    def summary(self) -> str:
        """pytest's closing summary of the shard: the short test summary (failures, errors) and the result line."""
        lines = self.log.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()
        start = next((i for i, line in enumerate(lines) if "short test summary info" in line), len(lines) - 1)
        return "\n".join(lines[max(start, 0) :])


def test_directories(root: Path) -> list[str]:
    """Every folder directly under ``tests/`` that holds test modules, and any test module at its top."""
    tests = root / "tests"
    found = [f"tests/{path.name}" for path in sorted(tests.glob("test_*.py"))]
    for folder in sorted(path for path in tests.iterdir() if path.is_dir()):
        if any(folder.rglob("test_*.py")):
            found.append(f"tests/{folder.name}")
    return found


def deal(directories: Iterable[str], count: int) -> list[list[str]]:
    """Deal ``directories`` to ``count`` shards, the longest first, each to the shard with the least time so far."""
    shards: list[list[str]] = [[] for _ in range(count)]
    totals = [0.0] * count
    ordered = sorted(directories, key=lambda path: -DIRECTORY_SECONDS.get(Path(path).name, UNKNOWN_SECONDS))
    for path in ordered:
        lightest = totals.index(min(totals))
        shards[lightest].append(path)
        totals[lightest] += DIRECTORY_SECONDS.get(Path(path).name, UNKNOWN_SECONDS)
    return [sorted(paths) for paths in shards if paths]


def shard_env(env: Mapping[str, str], number: int) -> dict[str, str]:
    """The environment of shard ``number`` (1-based): shard 1 keeps the suite's database and Redis database; shard
    N uses database ``<name>_shard<N>`` and the Redis database N - 1 below the suite's (modulo 16)."""
    environ = dict(env)
    if number == 1:
        return environ
    database = urlsplit(environ["DATABASE_URL"])
    name = (database.path.lstrip("/") or "postgres")[:50]
    environ["DATABASE_URL"] = urlunsplit(database._replace(path=f"/{name}_shard{number}"))
    redis_url = environ["BDT_TEST_REDIS_URL"]
    parts = urlsplit(redis_url)
    db_text = parts.path.lstrip("/") if parts.scheme in {"redis", "rediss"} else ""
    base = int(db_text) if db_text.isdigit() else 0
    environ["BDT_TEST_REDIS_URL"] = redis_url_with_db(redis_url, (base - (number - 1)) % 16)
    return environ


def shards_plan(root: Path, logs: Path, env: Mapping[str, str], count: int) -> list[Shard]:
    """The shards of the whole suite."""
    directories = test_directories(root)
    if not directories:
        raise DevstackError(f"no test modules under {root / 'tests'}")
    logs.mkdir(parents=True, exist_ok=True)
    return [
        Shard(number=index + 1, paths=paths, env=shard_env(env, index + 1), log=logs / f"shard-{index + 1}.log")
        for index, paths in enumerate(deal(directories, count))
    ]


def shards_run(shards: list[Shard], root: Path, pytest_args: list[str], report_every: float = 30.0) -> int:
    """Start every shard, report their progress until all have ended, print each shard's output in turn; the first
    non-zero exit code of a shard, else 0."""
    for shard in shards:
        argv = [python_executable(), "-m", "pytest", f"--junitxml={shard.log.with_suffix('.xml')}", *pytest_args]
        argv += shard.paths
        say(f"shard {shard.number}: {' '.join(shard.paths)} (log: {shard.log})")
        with shard.log.open("wb") as log:
            shard.process = subprocess.Popen(
                argv, cwd=root, env=shard.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
    started = time.monotonic()
    last_report = started
    while any(shard.process is not None and shard.process.poll() is None for shard in shards):
        time.sleep(1.0)
        if time.monotonic() - last_report >= report_every:
            last_report = time.monotonic()
            minutes = (last_report - started) / 60
            states = " · ".join(f"shard {shard.number} {shard.state()}" for shard in shards)
            say(f"{minutes:.1f} min: {states}")
    codes = []
    for shard in shards:
        assert shard.process is not None
        code = shard.process.returncode
        codes.append(128 - code if code < 0 else code)
        print(f"\n======== shard {shard.number}: {' '.join(shard.paths)} ========", flush=True)
        print(shard.log.read_text(encoding="utf-8", errors="replace"), end="", flush=True)
    for shard, code in zip(shards, codes, strict=True):  # the end of the output names every failure of every shard
        say(f"shard {shard.number} exited with {code}")
        print(shard.summary(), flush=True)
    return next((code for code in codes if code), 0)


def shards_stop(shards: list[Shard], signum: int) -> None:
    """Pass ``signum`` on to every shard still running (pytest ends its session itself)."""
    for shard in shards:
        if shard.process is not None and shard.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(shard.process.pid, signum)


def measured_seconds(reports: Iterable[Path]) -> dict[str, float]:
    """Seconds per test directory (setup, call and teardown of its tests) in the JUnit reports the shards wrote
    (``.bdt/test-logs/shard-N.xml``): what ``DIRECTORY_SECONDS`` is refreshed from."""
    from xml.etree import ElementTree

    seconds: dict[str, float] = {}
    for report in reports:
        for case in ElementTree.parse(report).iter("testcase"):  # noqa: S314 - the suite's own report
            parts = case.get("classname", "").split(".")
            if len(parts) > 1 and parts[0] == "tests":
                seconds[parts[1]] = seconds.get(parts[1], 0.0) + float(case.get("time") or 0)
    return dict(sorted(seconds.items(), key=lambda item: -item[1]))


if __name__ == "__main__":  # cd scripts && ../.venv/bin/python -m devstack.shards ../.bdt/test-logs/shard-*.xml
    import sys

    for directory, total in measured_seconds(Path(arg) for arg in sys.argv[1:]).items():
        print(f'    "{directory}": {total:.0f},')
