"""Load benchmark: N simulated builders against a real server (gunicorn + a real Celery worker) on loopback.

Steps: the bench study of ``--participants`` (generated and ingested once, bench/common.py), one analyst with a token
per simulated user, a finished run for previews and exports; then gunicorn (gthread) and a Celery worker with the
bench environment, and locust (headless, ``bench/locustfile.py``) for ``--duration`` seconds. Meanwhile the machine's
load, CPU and memory (and the server and worker processes' memory) are sampled every second. It stops by itself.

Reported per endpoint: requests, failures, p50/p95/p99 latency and throughput (locust measures in the client, around
the whole request); plus the machine during the run, the platform's own view from ``/metrics`` and the targets of
issue 11 (20 builders at 100k participants: count p95 < 1 s, health p95 < 200 ms, zero errors).

    .venv/bin/python bench/load.py --participants 100000 --users 20 --duration 120      # the target measurement
    .venv/bin/python bench/load.py --participants 10000 --users 5 --duration 30         # a quick check
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
import psutil
from common import BENCH_ENV, BENCH_HOST, DATA, PYTHON, ROOT, say

LOAD_USER = "load-user-{}@example.org"
LOAD_STEWARD = "load-steward@example.org"
WEIGHTS = {"count": 20, "preview": 3, "run": 1, "export": 1}
UPLOAD_EVERY_SECONDS = 10.0  # one data manager uploads a small measure table this often
TARGETS = {"count": 1000.0, "health": 200.0}  # p95 in ms (issue 11)


@dataclass
class Sampler:
    """Samples the machine (load average, CPU, memory) and the server's process trees every ``interval`` s."""

    roots: dict[str, int]
    interval: float = 1.0
    samples: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        psutil.cpu_percent(None)
        threading.Thread(target=self._run, daemon=True, name="sampler").start()

    def stop(self) -> None:
        self._stop.set()

    def _tree_rss(self, pid: int) -> int:
        try:
            root = psutil.Process(pid)
            return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        except psutil.Error:
            return 0

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            memory = psutil.virtual_memory()
            self.samples.append(
                {
                    "t": time.time(),
                    "load1": os.getloadavg()[0],
                    "cpu_percent": psutil.cpu_percent(None),
                    "mem_used_gib": (memory.total - memory.available) / 2**30,
                    **{f"{name}_rss_mib": self._tree_rss(pid) / 2**20 for name, pid in self.roots.items()},
                }
            )

    def summary(self) -> dict[str, dict[str, float]]:
        keys = [key for key in (self.samples[0] if self.samples else {}) if key != "t"]
        return {
            key: {
                "min": min(s[key] for s in self.samples),
                "mean": sum(s[key] for s in self.samples) / len(self.samples),
                "max": max(s[key] for s in self.samples),
            }
            for key in keys
        }


def token_for(email: str, role: str) -> str:
    """A member of the bench tenant with ``role`` and a fresh one-day token (in-process services)."""
    from tenants.services import membership_set, user_get_or_create
    from tenants.tokens import api_token_create

    tenant = common.bench_tenant()
    user = user_get_or_create(email=email)
    membership_set(tenant=tenant, user=user, role=role)
    return api_token_create(user=user, tenant=tenant, name="load benchmark", expires_days=1).plaintext


def finished_runs(participants: int, users: int) -> list[int]:
    """A finished run per simulated user (runs are private to their author): the first executes, the others reuse
    its result as the platform does for identical specs on identical versions."""
    from django_tenants.utils import tenant_context

    from datasets.models import Study
    from queries.run_worker import query_run_execute
    from queries.services import query_run_create
    from tenants.models import User

    tenant = common.bench_tenant()
    spec = {
        "filters": [{"dataset": "demographics", "column": "age", "op": "between", "value": [30, 40]}],
        "columns": {"demographics": ["age", "sex", "site"], "cognitive": ["working_memory", "note"]},
    }
    ids = []
    with tenant_context(tenant):
        study = Study.objects.get(slug=common.study_slug(participants))
        for number in range(users):
            actor = User.objects.get(email=LOAD_USER.format(number))
            run = query_run_create(tenant=tenant, actor=actor, study=study, payload=spec, enqueue=False)
            if run.status != "succeeded":
                assert query_run_execute(run.pk) == "succeeded"
            ids.append(run.pk)
    return ids


def warm_up(port: int, token: str, study: str, web_workers: int) -> None:
    """A few counts per web process before measuring (first-use costs are not what builders see all day)."""
    for i in range(4 * web_workers):
        spec = {"filters": [{"dataset": "demographics", "column": "age", "op": "gte", "value": 10 + i}]}
        status, body = common.http_request(port, "POST", f"/api/v1/studies/{study}/count", spec, token=token)
        if status != 200:
            raise RuntimeError(f"warm-up count answered {status}: {body}")


def _wait_http(port: int, deadline_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up; see bench/data/logs/")
        try:
            if common.http_request(port, "GET", "/api/v1/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer in time")


def _stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # our own child, by its pid
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def stack(args: argparse.Namespace, env: dict[str, str]) -> Iterator[tuple[int, dict[str, int]]]:
    """gunicorn (gthread) + one Celery worker on all queues; yields (port, {name: pid})."""
    logs = DATA / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = common.free_port()
    worker_log = open(logs / "load-worker.log", "wb")  # noqa: SIM115 - closed below
    web_log = open(logs / "load-web.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [PYTHON, "-m", "celery", "-A", "bdt_project", "worker", "-Q", "default,ingest,queries,interactive",
         "--concurrency", str(args.worker_concurrency), "--loglevel", "WARNING", "-n", f"load-{port}@%h"],
        cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    web = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "bdt_project.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--worker-class", "gthread", "--workers", str(args.web_workers), "--threads", str(args.threads),
         "--timeout", "120", "--keep-alive", "75"],
        cwd=ROOT, env=env, stdout=web_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_http(port, 60, web)
        say(f"gunicorn on 127.0.0.1:{port} (pid {web.pid}), Celery worker pid {worker.pid}")
        yield port, {"web": web.pid, "worker": worker.pid}
    finally:
        _stop(web)
        _stop(worker)
        worker_log.close()
        web_log.close()


def locust_run(args: argparse.Namespace, port: int, config_path: Path, prefix: Path, env: dict[str, str]) -> int:
    """Run locust headless; it stops itself after ``--duration`` s (plus a hard stop for safety)."""
    command = [
        str(ROOT / ".venv" / "bin" / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
        "--users", str(args.users + 2), "--spawn-rate", str(args.spawn_rate), "--run-time", f"{args.duration}s",
        "--host", f"http://127.0.0.1:{port}", "--csv", str(prefix), "--only-summary", "--stop-timeout", "20",
        "--loglevel", "WARNING", "--exit-code-on-error", "0",
    ]  # fmt: skip
    locust_env = {**env, "BENCH_LOAD_CONFIG": str(config_path)}
    with open(DATA / "logs" / "load-locust.log", "wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=locust_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            return proc.wait(timeout=args.duration + 120)
        except subprocess.TimeoutExpired:
            _stop(proc, timeout=10)
            raise RuntimeError("locust did not stop in time; see bench/data/logs/load-locust.log") from None


def stats_read(prefix: Path) -> list[dict[str, Any]]:
    rows = []
    with open(f"{prefix}_stats.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows.append(
                {
                    "name": row["Name"],
                    "method": row["Type"],
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "p50_ms": float(row["50%"] or 0),
                    "p95_ms": float(row["95%"] or 0),
                    "p99_ms": float(row["99%"] or 0),
                    "rps": float(row["Requests/s"] or 0),
                }
            )
    return rows


def failures_read(prefix: Path) -> list[dict[str, str]]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def platform_view(port: int, token: str) -> dict[str, float]:
    """A few numbers from the platform's own /metrics at the end (queue lengths, runs and ingests finished)."""
    import http.client

    from prometheus_client.parser import text_string_to_metric_families

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/metrics", headers={"Host": "platform.localhost", "Authorization": f"Bearer {token}"})
    text = connection.getresponse().read().decode()
    connection.close()
    view: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "bdt_celery_queue_length":
                view[f"queue {sample.labels['queue']}"] = sample.value
            elif sample.name in {"bdt_query_runs_finished_total", "bdt_ingests_finished_total"}:
                key = f"{sample.name.removeprefix('bdt_').removesuffix('_total')} {sample.labels['outcome']}"
                view[key] = view.get(key, 0) + sample.value
            elif sample.name == "bdt_engine_memory_peak_max_bytes":
                view[f"worker peak MiB ({sample.labels['kind']})"] = round(sample.value / 2**20)
    return view


def report(rows: list[dict[str, Any]], machine: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    lines = ["| endpoint | requests | failures | p50 ms | p95 ms | p99 ms | req/s |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['requests']} | {row['failures']} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} "
            f"| {row['p99_ms']:.0f} | {row['rps']:.2f} |"
        )
    lines.append("")
    lines.append("| machine during the run | min | mean | max |")
    lines.append("|---|---|---|---|")
    for key, value in machine.items():
        lines.append(f"| {key} | {value['min']:.1f} | {value['mean']:.1f} | {value['max']:.1f} |")
    by_name = {row["name"]: row for row in rows}
    total = by_name.get("Aggregated", {"failures": sum(r["failures"] for r in rows)})
    lines.append("")
    for name, target in TARGETS.items():
        row = by_name.get(name)
        if row:
            verdict = "met" if row["p95_ms"] < target else "NOT met"
            lines.append(f"- {name} p95 {row['p95_ms']:.0f} ms (target < {target:.0f} ms): {verdict}")
    lines.append(f"- errors: {total['failures']} (target 0)")
    if args.participants != 100_000 or args.users != 20:
        lines.append(f"- scale: {args.users} users at {args.participants:,} participants (the target is 20 at 100,000)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument(
        "--users", type=int, default=20, help="simulated builders (plus one health probe and one uploader)"
    )
    parser.add_argument("--spawn-rate", type=float, default=5.0, help="users started per second")
    parser.add_argument("--duration", type=int, default=120, help="seconds of load (locust stops by itself)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes")
    args = parser.parse_args()
    if not 1 <= args.users <= 200 or not 5 <= args.duration <= 1800:
        parser.error("--users must be 1..200 and --duration 5..1800 (the benchmark is bounded)")

    metrics_token = secrets.token_urlsafe(24)
    metrics_dir = DATA / "state" / "load-metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env = {**os.environ, **BENCH_ENV, "BDT_METRICS_TOKEN": metrics_token, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    os.environ.update({"BDT_METRICS_TOKEN": metrics_token, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})

    common.bench_db_ensure()
    common.django_setup()
    common.redis_flush()
    common.study_seed(args.participants)
    from tenants.roles import Role

    tokens = [token_for(LOAD_USER.format(number), Role.ANALYST) for number in range(args.users)]
    steward_token = token_for(LOAD_STEWARD, Role.STEWARD)
    run_ids = finished_runs(args.participants, args.users)
    from django.db import connections

    connections.close_all()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    prefix = common.RESULTS / f"load-{stamp}"
    config_path = common.RESULTS / f"load-{stamp}-config.json"
    config_path.write_text(
        json.dumps(
            {
                "host": BENCH_HOST,
                "study": common.study_slug(args.participants),
                "tokens": tokens,
                "run_ids": run_ids,
                "steward_token": steward_token,
                "weights": WEIGHTS,
                "upload_every_seconds": UPLOAD_EVERY_SECONDS,
                "run_wait_seconds": 120,
            }
        )
    )
    facts = common.machine_facts()
    with stack(args, env) as (port, pids):
        warm_up(port, tokens[0], common.study_slug(args.participants), args.web_workers)
        sampler = Sampler(roots=pids)
        say(f"locust: {args.users} builders, 1 health probe, 1 uploader for {args.duration} s (load {common.load()})")
        sampler.start()
        try:
            code = locust_run(args, port, config_path, prefix, env)
        finally:
            sampler.stop()
        view = platform_view(port, metrics_token)
    config_path.unlink()  # it holds tokens
    if not Path(f"{prefix}_stats.csv").exists():
        log = (DATA / "logs" / "load-locust.log").read_text(errors="replace").splitlines()
        raise SystemExit(f"locust failed (exit code {code}):\n" + "\n".join(log[-15:]))
    rows = stats_read(prefix)
    machine = sampler.summary()
    text = report(rows, machine, args)
    print("\n" + text + "\n")
    print("platform /metrics at the end:", json.dumps(view))
    failures = failures_read(prefix)
    for failure in failures[:10]:
        where = f"{failure.get('Method')} {failure.get('Name')}"
        print(f"failure: {where}: {failure.get('Error')} x{failure.get('Occurrences')}")
    saved = common.result_save(
        "load",
        {
            "machine": facts,
            "args": vars(args),
            "weights": WEIGHTS,
            "endpoints": rows,
            "failures": failures,
            "load": machine,
            "platform_metrics": view,
            "locust_exit_code": code,
            "report": text,
        },
    )
    say(f"results in {saved.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
