"""Shared helpers of the benchmark scripts: environment, data generation, bench tenant, server, statistics.

Everything the scripts generate lives under ``bench/data/`` (git-ignored): CSVs, the bench state directory
(``BDT_STATE_DIR``: media, version cache, work files), server logs and the JSON results.

The scripts use the project's real code paths: the ingest pipeline, the management commands ``tenant_create`` /
``token_create``, the services ``study_create`` / ``ingest_file_sync`` / ``query_count`` / ``query_run_create`` /
``query_run_execute`` / ``run_export``, and a real gunicorn serving ``bdt_project.wsgi`` for HTTP measurements.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = DATA / "results"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
if str(ROOT) not in sys.path:  # the scripts import the project's packages
    sys.path.insert(0, str(ROOT))

# Override both when several people benchmark on one machine: BDT_BENCH_DB, BDT_BENCH_REDIS_URL.
BENCH_DB = os.environ.get("BDT_BENCH_DB", "bdt_bench")
BENCH_TENANT = "bench"
BENCH_HOST = "bench.localhost"
BENCH_OWNER = "bench-owner@example.org"
BENCH_ANALYST = "bench-analyst@example.org"

#: The environment of every Django process of the benchmarks (this one, manage.py commands, gunicorn).
BENCH_ENV: dict[str, str] = {
    "DJANGO_SETTINGS_MODULE": "bdt_project.settings.local",
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
    "REDIS_URL": os.environ.get("BDT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
    "BDT_ENV_FILE": "/nonexistent",  # never read the checkout's .env
    "BDT_CONFIG_FILE": "/nonexistent",  # nor a bdt.toml: every limit at its documented default
    "BDT_STATE_DIR": str(DATA / "state"),  # media, version cache and work files of the bench
    "DJANGO_DEBUG": "0",
    "DJANGO_LOG_LEVEL": "WARNING",
}

#: DuckDB settings the platform uses per query connection (config defaults duckdb_threads / duckdb_memory_limit).
DUCKDB_THREADS = 2
DUCKDB_MEMORY = "2GB"

SESSIONS = ("BAS1", "BAS2", "FU1")
STUDY_TABLES = ("demographics", "cognitive", "flanker", "mood")


# --- environment / machine -----------------------------------------------------------------------------------
def env_apply() -> None:
    """Point this process at the bench database, Redis DB 9 and bench/data/state (before Django is imported)."""
    os.environ.update(BENCH_ENV)


def load() -> str:
    """The 1/5/15-minute load averages, as ``uptime`` prints them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine_facts() -> dict[str, Any]:
    """Date, cores, RAM, CPU and the versions that matter for the numbers."""
    import duckdb
    import pyarrow

    mem_kb = 0
    cpu = platform.processor()
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break

    def git(*args: str) -> str:  # read-only: which code was measured
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "bdt_project", "tenants", "datasets", "queries", "audit")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_app_changes": len(changed.splitlines()),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
    }


# --- statistics / output -------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


@dataclass
class Series:
    """Timings (seconds) of one measured operation plus the load average around them."""

    name: str
    seconds: list[float]
    load_before: str
    load_after: str

    @property
    def p50(self) -> float:
        return median(self.seconds)

    @property
    def p95(self) -> float:
        return percentile(self.seconds, 95)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n": len(self.seconds),
            "p50_s": self.p50,
            "p95_s": self.p95,
            "min_s": min(self.seconds),
            "max_s": max(self.seconds),
            "seconds": self.seconds,
            "load_before": self.load_before,
            "load_after": self.load_after,
        }


def measure(name: str, fn: Callable[[int], object], repeats: int, *, warmup: int = 0) -> Series:
    """Call ``fn(i)`` ``warmup`` times untimed, then ``repeats`` times timed."""
    for i in range(warmup):
        fn(-1 - i)
    before = load()
    seconds = []
    for i in range(repeats):
        started = time.perf_counter()
        fn(i)
        seconds.append(time.perf_counter() - started)
    return Series(name, seconds, before, load())


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def result_save(name: str, payload: dict[str, Any]) -> Path:
    """Write ``bench/data/results/<name>-<timestamp>.json``; returns the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def say(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S} load {load()}] {message}", flush=True)


# --- DuckDB data generation ----------------------------------------------------------------------------------
def duck(threads: int | None = DUCKDB_THREADS, memory_limit: str | None = DUCKDB_MEMORY) -> Any:
    """A private in-memory DuckDB connection (extensions never downloaded)."""
    import duckdb

    config: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if threads is not None:
        config["threads"] = threads
    if memory_limit is not None:
        config["memory_limit"] = memory_limit
    return duckdb.connect(":memory:", config=config)


# Deterministic pseudo-random numbers from hash(): u = uniform [0, 1), z = roughly standard normal (Irwin-Hall).
_MACROS = """
CREATE OR REPLACE MACRO u(r, k) AS (hash(r, k) % 1000003) / 1000003.0;
CREATE OR REPLACE MACRO h(r, k, n) AS (hash(r, k) % n)::BIGINT;
CREATE OR REPLACE MACRO z(r, k) AS (u(r, k) + u(r, k + 1000) + u(r, k + 2000) + u(r, k + 3000) - 2.0) * 1.732;
"""
SITE_CELLS = (
    "Discovery",
    "Longitudinal_Adult",
    "Neurofeedback",
    "Longitudinal_Child",
    "Discovery;Longitudinal_Adult",
    "{Discovery, Neurofeedback}",
    "Longitudinal_Adult Discovery",
    "{Longitudinal_Child, Neurofeedback}",
)
NOTES = ("NULL", "NULL", "NULL", "'ok'", "'follow-up advised'", "'said \"fine, thanks\"'", "'sleep issues, stress'")


def _sql_list(items: Sequence[str], quote: bool = True) -> str:
    return "[" + ", ".join(("'" + i.replace("'", "''") + "'") if quote else i for i in items) + "]"


def _study_selects(participants: int) -> dict[str, str]:
    """SELECTs producing the four study tables: ``participants`` x 3 sessions, file order id, session."""
    n = participants * len(SESSIONS)
    rows = (
        f"(SELECT r, r // 3 + 1 AS i, r % 3 AS v, {_sql_list(SESSIONS)}[r % 3 + 1] AS session, "
        f"z(r // 3 + 1, 10) AS ability FROM range(0, {n}) t(r))"
    )
    pid = "lpad(i::VARCHAR, 7, '0') AS participant_id"
    note = f"{_sql_list(NOTES, quote=False)}[1 + h(r, 30, {len(NOTES)})]"
    return {
        "demographics": f"""
            SELECT {pid}, session,
                   CASE WHEN u(r, 2) < 0.005 THEN NULL ELSE round(8 + u(i, 1) * 77 + v * 0.5, 1) END AS age,
                   CASE WHEN u(i, 3) < 0.01 THEN NULL WHEN u(i, 4) < 0.5 THEN 'F' ELSE 'M' END AS sex,
                   {_sql_list(SITE_CELLS)}[1 + h(i, 5, {len(SITE_CELLS)})] AS site,
                   ['right', 'right', 'right', 'left', 'ambidextrous'][1 + h(i, 6, 5)] AS handedness,
                   round(170 + z(i, 7) * 10, 1) AS height_cm,
                   CASE WHEN u(r, 8) < 0.03 THEN NULL ELSE round(70 + z(r, 9) * 14, 1) END AS weight_kg
            FROM {rows}""",
        "cognitive": f"""
            SELECT {pid}, session,
                   CASE WHEN u(r, 11) < 0.03 THEN NULL
                        ELSE round(100 + v * 2 + ability * 8 + z(r, 12) * 12, 1) END AS working_memory,
                   CASE WHEN u(r, 13) < 0.03 THEN NULL
                        ELSE round(50 + v + ability * 4 + z(r, 14) * 8, 1) END AS processing_speed,
                   CASE WHEN u(r, 15) < 0.03 THEN NULL
                        ELSE (75 + v * 2 + ability * 8 + z(r, 16) * 10)::INTEGER END AS attention_score,
                   {note} AS note
            FROM {rows}""",
        "flanker": f"""
            SELECT participant_id, session, round(c, 1) AS rt_congruent, round(c + d, 1) AS rt_incongruent,
                   CASE WHEN u(r, 23) < 0.03 THEN NULL
                        ELSE round(least(0.999, greatest(0.5, 0.9 + z(r, 24) * 0.05)), 3) END AS accuracy,
                   round(d, 1) AS interference
            FROM (SELECT r, {pid}, session, 480 - ability * 20 + z(r, 21) * 45 AS c, abs(55 + z(r, 22) * 18) AS d
                  FROM {rows} WHERE session <> 'FU1' OR u(r, 20) < 0.7)""",
        "mood": f"""
            SELECT {pid}, session,
                   CASE WHEN u(r, 31) < 0.05 THEN NULL ELSE h(r, 32, 28) END AS phq9_total,
                   CASE WHEN u(r, 33) < 0.05 THEN NULL ELSE h(r, 34, 22) END AS gad7_total,
                   {note} AS clinician_note
            FROM {rows}""",
    }


def _copy_csv(select: str, target: Path) -> None:
    """Write ``select`` to ``target`` as CSV (via a temporary name, so a half-written file is never reused)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    con = duck(threads=None, memory_limit=None)
    try:
        con.execute(_MACROS)
        con.execute(f"COPY ({select}) TO '{part}' (FORMAT csv, HEADER true)")
    finally:
        con.close()
    part.replace(target)


def study_dir(participants: int) -> Path:
    return DATA / "studies" / f"p{participants}"


def study_csvs(participants: int) -> dict[str, Path]:
    """The study's CSVs (demographics + 3 measure tables), generated with DuckDB unless already present."""
    folder = study_dir(participants)
    files = {name: folder / f"{name}.csv" for name in STUDY_TABLES}
    for name, select in _study_selects(participants).items():
        if not files[name].exists():
            say(f"generating {files[name]}")
            _copy_csv(select, files[name])
    return files


def ingest_csv_file(size_mb: int) -> Path:
    """A ~``size_mb`` MB measure CSV (id with leading zeros, 4 sessions, fractions, quoted text, gaps)."""
    target = DATA / f"ingest-{size_mb}mb.csv"
    if target.exists():
        return target
    sessions = ("BAS1", "BAS2", "FU1", "FU2")

    def select(participants: int) -> str:
        n = participants * len(sessions)
        return f"""
        SELECT lpad(i::VARCHAR, 8, '0') AS participant_id, {_sql_list(sessions)}[v + 1] AS session,
               CASE WHEN u(r, 1) < 0.03 THEN NULL ELSE round(100 + v * 2 + z(r, 2) * 15, 1) END AS working_memory,
               CASE WHEN u(r, 3) < 0.03 THEN NULL ELSE round(50 + z(r, 4) * 8, 2) END AS processing_speed,
               round(480 + z(r, 5) * 45, 1) AS rt_congruent,
               round(540 + z(r, 6) * 50, 1) AS rt_incongruent,
               CASE WHEN u(r, 7) < 0.03 THEN NULL
                    ELSE round(least(0.999, greatest(0.5, 0.9 + z(r, 8) * 0.05)), 3) END AS accuracy,
               CASE WHEN u(r, 9) < 0.05 THEN NULL ELSE h(r, 10, 28) END AS phq9_total,
               round(z(r, 11), 4) AS z_score,
               {_sql_list(NOTES, quote=False)}[1 + h(r, 12, {len(NOTES)})] AS note
        FROM (SELECT r, r // {len(sessions)} + 1 AS i, r % {len(sessions)} AS v FROM range(0, {n}) t(r))"""

    sample = DATA / "ingest-sample.csv"
    _copy_csv(select(25_000), sample)
    per_participant = sample.stat().st_size / 25_000
    sample.unlink()
    participants = int(size_mb * 1_000_000 / per_participant)
    say(f"generating {target}: {participants:,} participants x {len(sessions)} sessions")
    _copy_csv(select(participants), target)
    return target


# --- Django: bench database, tenant, token, studies ----------------------------------------------------------
def manage(*args: str) -> str:
    """Run ``manage.py <args>`` with the bench environment; returns stdout (raises on failure)."""
    env = {**os.environ, **BENCH_ENV}
    done = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def bench_db_ensure() -> None:
    """Create ``bdt_bench`` if missing, migrate it, create the bench tenant (idempotent)."""
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as con:
        exists = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if not exists:
            say(f"creating database {BENCH_DB}")
            con.execute(f'CREATE DATABASE "{BENCH_DB}"')
    manage("migrate_schemas", "--shared")
    manage("migrate_schemas")
    manage("tenant_create", BENCH_TENANT, "--name", "Bench Lab", "--domain", BENCH_HOST, "--owner", BENCH_OWNER)


def token_create(email: str = BENCH_ANALYST, role: str = "analyst") -> str:
    """A fresh personal access token (through the ``token_create`` command)."""
    return manage("token_create", "--tenant", BENCH_TENANT, "--email", email, "--role", role).strip().splitlines()[-1]


def django_setup() -> None:
    env_apply()
    import django

    django.setup()


def redis_flush() -> None:
    """Empty Redis DB 9 (the bench's cache/broker database only)."""
    import redis

    redis.Redis.from_url(BENCH_ENV["REDIS_URL"]).flushdb()


def bench_tenant() -> Any:
    from tenants.models import Tenant

    return Tenant.objects.get(slug=BENCH_TENANT)


def study_slug(participants: int) -> str:
    return f"p{participants}"


def study_seed(participants: int) -> dict[str, Any]:
    """The bench study of ``participants`` x 3 sessions, ingested through ``ingest_file_sync`` (once).

    Returns the per-dataset ingest timings of this call ({} when everything was already there).
    """
    from django_tenants.utils import tenant_context

    from datasets.models import Study
    from datasets.services import ingest_file_sync, study_create

    files = study_csvs(participants)
    slug = study_slug(participants)
    timings: dict[str, Any] = {}
    with tenant_context(bench_tenant()):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            study = study_create(
                tenant=bench_tenant(),
                actor=None,
                slug=slug,
                name=f"Bench study {participants:,} participants",
                id_column="participant_id",
                session_column="session",
                age_column="age",
                sex_column="sex",
                site_column="site",
            )
        present = set(study.datasets.filter(versions__isnull=False).values_list("name", flat=True))
        for name, path in files.items():
            if name in present:
                continue
            kind = "demographics" if name == "demographics" else "measure"
            say(f"ingesting {path.name} ({path.stat().st_size / 1e6:.0f} MB) into study {slug} (ingest_file_sync)")
            started = time.perf_counter()
            job = ingest_file_sync(study=study, path=path, dataset_name=name, kind=kind, title=name)
            seconds = time.perf_counter() - started
            if job.status != "succeeded":
                raise RuntimeError(f"ingest of {name} failed: {job.error_code} {job.error_message}")
            timings[name] = {"seconds": seconds, "mb": path.stat().st_size / 1e6, "load": load()}
    return timings


def study_store_build(participants: int) -> str:
    """Build the participant index store of the bench study's latest versions, as a worker does after an ingest
    (``queries.participant_stores.participant_store_build``); returns ``built``, ``exists``, ... ."""
    from django_tenants.utils import tenant_context

    from datasets.models import Study
    from queries.participant_stores import participant_store_build

    with tenant_context(bench_tenant()):
        return participant_store_build(Study.objects.get(slug=study_slug(participants)).pk)


def study_parquet_paths(participants: int) -> dict[str, Path]:
    """Local Parquet files (the version cache the engine reads) of the bench study's latest versions."""
    from django_tenants.utils import tenant_context

    from datasets.models import Study
    from datasets.storage import version_cache_path
    from queries.execution import study_latest_versions

    with tenant_context(bench_tenant()):
        study = Study.objects.get(slug=study_slug(participants))
        return {
            name: version_cache_path(v.parquet_file, v.parquet_sha256)
            for name, v in study_latest_versions(study).items()
        }


# --- HTTP server ---------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(kind: str = "gunicorn", workers: int = 1) -> Iterator[int]:
    """Serve the project on a free port (gunicorn sync workers, or ``runserver --noreload``); yields the port."""
    port = free_port()
    if kind == "gunicorn":
        cmd = [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "bdt_project.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "300",
        ]
    else:
        cmd = [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    logs = DATA / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"server-{port}.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **BENCH_ENV}, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited; see {log.name}")
                try:
                    status, _ = http_request(port, "GET", "/api/v1/health")
                    if status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start in 60 s")
                time.sleep(0.3)
            say(f"{kind} serving on 127.0.0.1:{port} (pid {proc.pid})")
            yield port
        finally:
            proc.terminate()  # our own child, by its pid
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def http_request(port: int, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """One request on a new connection (gunicorn's sync workers close it anyway), Host = the bench tenant."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    headers = {"Host": BENCH_HOST}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(data) if data else None
    except ValueError:
        return response.status, data[:200]
