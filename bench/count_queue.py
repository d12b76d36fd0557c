"""Live counts on the ``interactive`` Celery queue or inline in the web process? Measures what the queue adds.

Usage::

    .venv/bin/python bench/count_queue.py --participants 100000 [--rounds 41]

Needs the bench study ``p<N>`` (``bench/counts.py --participants N --seed-only`` creates it). Starts one Celery
worker on the ``interactive`` queue (prefork, concurrency 1, the bench environment) and measures, in interleaved
rounds:

* **queue round trip**: a task that does nothing (Celery's built-in ``celery.accumulate``) sent to the
  ``interactive`` queue from inside the bench tenant's schema (so the worker switches schema, as a tenant task
  does) and waited for with ``.get()``: publish, pick-up, schema switch, result store, result read;
* **inline count**: ``queries.services.query_count`` in this process, cache miss (distinct equivalent specs) and
  cache hit.

A count on the queue costs at least the inline count plus the round trip (the worker would run the same code).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from common import (
    BENCH_ENV,
    DATA,
    ROOT,
    bench_db_ensure,
    django_setup,
    load,
    machine_facts,
    md_table,
    median,
    ms,
    percentile,
    redis_flush,
    result_save,
    say,
    study_seed,
)
from counts import InProcess

QUEUE = "queue round trip (no-op task on `interactive`, tenant schema)"
MISS = "inline query_count, cache miss"
HIT = "inline query_count, cache hit"


def worker_start() -> subprocess.Popen[bytes]:
    from bdt_project.celery import app

    logs = DATA / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    node = f"bench-interactive-{os.getpid()}@localhost"
    log = open(logs / "worker-interactive.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bdt_project", "worker", "-Q", "interactive", "--pool", "prefork",
         "--concurrency", "1", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-n", node],
        cwd=ROOT, env={**os.environ, **BENCH_ENV}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the worker exited; see bench/data/logs/worker-interactive.log")
        if app.control.ping(destination=[node], timeout=0.5):
            say(f"celery worker {node} ready (pid {proc.pid})")
            return proc
    proc.terminate()
    raise RuntimeError("the worker did not answer in 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=41)
    args = parser.parse_args()

    django_setup()
    bench_db_ensure()
    study_seed(args.participants)
    redis_flush()

    from django_tenants.utils import tenant_context

    from bdt_project.celery import app

    inline = InProcess(args.participants)
    worker = worker_start()
    times: dict[str, list[float]] = {QUEUE: [], MISS: [], HIT: []}
    loads: list[float] = []
    try:

        def round_trip() -> None:
            with tenant_context(inline.tenant):
                result = app.send_task("celery.accumulate", args=(1,), queue="interactive")
                assert result.get(timeout=30) == [1]  # accumulate returns its args

        hit_answer = inline.query_count(0)  # primes the cached spec, and the engine / views in this process
        round_trip()
        for i in range(1, args.rounds + 1):
            started = time.perf_counter()
            round_trip()
            times[QUEUE].append(time.perf_counter() - started)
            started = time.perf_counter()
            answer = inline.query_count(i)
            times[MISS].append(time.perf_counter() - started)
            started = time.perf_counter()
            assert inline.query_count(0) == hit_answer == answer
            times[HIT].append(time.perf_counter() - started)
            loads.append(float(load().split()[0]))
            if i % 10 == 0:
                say(f"round {i}/{args.rounds}: queue p50 {ms(median(times[QUEUE]))} ms")
    finally:
        worker.terminate()  # our own child, by its pid
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()

    rows = [[name, len(v), ms(median(v)), ms(percentile(v, 95))] for name, v in times.items()]
    queued = [q + m for q, m in zip(times[QUEUE], times[MISS], strict=True)]
    rows.append(["estimated count on the queue, cache miss (round trip + inline miss)", len(queued),
                 ms(median(queued)), ms(percentile(queued, 95))])  # fmt: skip
    print()
    print(f"{args.participants:,} participants; 1-minute load median {median(loads):.2f} "
          f"(min {min(loads):.2f}, max {max(loads):.2f})")  # fmt: skip
    print(md_table(["method", "n", "p50 (ms)", "p95 (ms)"], rows))
    path = result_save(
        f"count-queue-p{args.participants}",
        {
            "participants": args.participants,
            "machine": machine_facts(),
            "loads": loads,
            "series": {
                name: {"p50_s": median(v), "p95_s": percentile(v, 95), "seconds": v} for name, v in times.items()
            },
        },
    )
    print(f"\nresults: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
