"""Cached count over HTTP against the request floors, optionally side by side with another checkout (before/after).

Usage::

    .venv/bin/python bench/cache_hits.py --participants 100000 [--rounds 200] [--baseline /path/to/old/checkout]

Needs the bench study ``p<N>`` (``bench/counts.py --participants N --seed-only`` creates it). Starts gunicorn (one
sync worker, ``DJANGO_DEBUG=0``, the bench environment) from this checkout and, with ``--baseline``, a second one
from that checkout on the same database and Redis. Every round sends, to each server in turn: the cached count
(``POST /api/v1/studies/p<N>/count``, one spec primed before the rounds), ``GET /api/v1/me`` (tenant + token
authentication) and ``GET /api/v1/health`` (no tenant). Both servers answer in the same rounds, so load changes on
the shared machine hit both alike; the ratio of their medians is the number to read. The answers must agree.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from common import (
    BENCH_ENV,
    DATA,
    ROOT,
    bench_db_ensure,
    django_setup,
    free_port,
    http_request,
    machine_facts,
    md_table,
    median,
    percentile,
    redis_flush,
    result_save,
    say,
    study_seed,
    study_slug,
    token_create,
)
from counts import count_spec


@contextmanager
def served(root: Path) -> Iterator[int]:
    """gunicorn (1 sync worker) serving the checkout at ``root`` on a free port; stopped (by its pid) at exit."""
    port = free_port()
    cmd = [str(root / ".venv" / "bin" / "gunicorn"), "bdt_project.wsgi:application"]
    cmd += ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "300"]
    logs = DATA / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **BENCH_ENV}  # the same database, Redis and state directory for every checkout
    with open(logs / f"server-{port}.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server from {root} exited; see {log.name}")
                try:
                    if http_request(port, "GET", "/api/v1/health")[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start in 60 s")
                time.sleep(0.3)
            say(f"serving {root} on 127.0.0.1:{port} (pid {proc.pid})")
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--baseline", type=Path, help="another checkout of the project to measure side by side")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 5000:
        raise SystemExit("--rounds must be 1..5000")

    django_setup()
    bench_db_ensure()
    study_seed(args.participants)
    token = token_create()
    redis_flush()
    path = f"/api/v1/studies/{study_slug(args.participants)}/count"
    checkouts = {"this checkout": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    times: dict[str, dict[str, list[float]]] = {name: {"hit": [], "me": [], "health": []} for name in checkouts}
    answers: set[tuple[int, int]] = set()
    loads: list[float] = []

    with ExitStack() as stack:
        ports = {name: stack.enter_context(served(root)) for name, root in checkouts.items()}

        def timed(name: str, what: str, method: str, url: str, body: object, record: bool) -> None:
            started = time.perf_counter()
            status, answer = http_request(ports[name], method, url, body, token if what != "health" else None)
            elapsed = time.perf_counter() - started
            if status != 200:
                raise RuntimeError(f"{name}: {url} answered {status}: {answer}")
            if what == "hit":
                answers.add((answer["participants"], answer["rows"]))
            if record:
                times[name][what].append(elapsed)

        for name in checkouts:  # prime the cached spec and warm each server up (imports, connections)
            for _ in range(3):
                timed(name, "hit", "POST", path, count_spec(0), False)
                timed(name, "me", "GET", "/api/v1/me", None, False)
        say(f"{args.rounds} interleaved rounds")
        for r in range(args.rounds):
            loads.append(os.getloadavg()[0])
            order = list(checkouts) if r % 2 == 0 else list(reversed(checkouts))
            for name in order:
                timed(name, "hit", "POST", path, count_spec(0), True)
                timed(name, "me", "GET", "/api/v1/me", None, True)
                timed(name, "health", "GET", "/api/v1/health", None, True)
    if len(answers) != 1:
        raise SystemExit(f"the servers disagree: {answers}")

    rows = []
    for what in ("hit", "me", "health"):
        row = [{"hit": "cached count", "me": "GET /me", "health": "GET /health"}[what]]
        for name in checkouts:
            values = times[name][what]
            row.append(f"{median(values) * 1000:.1f} / {percentile(values, 95) * 1000:.1f}")
        if args.baseline:
            row.append(f"{median(times['this checkout'][what]) / median(times['baseline'][what]):.2f}")
        rows.append(row)
    headers = ["p50 / p95 ms", *checkouts, *(["this / baseline"] if args.baseline else [])]
    load_text = f"median {median(loads):.2f} (min {min(loads):.2f}, max {max(loads):.2f})"
    print(f"\n{args.participants:,} participants, {args.rounds} rounds; 1-minute load {load_text}\n")
    print(md_table(headers, rows))
    out = result_save(
        f"cache-hits-p{args.participants}",
        {
            "machine": machine_facts(),
            "participants": args.participants,
            "checkouts": {name: str(root) for name, root in checkouts.items()},
            "load_1min": {"median": median(loads), "min": min(loads), "max": max(loads)},
            "p50_ms": {n: {w: median(v) * 1000 for w, v in t.items()} for n, t in times.items()},
            "p95_ms": {n: {w: percentile(v, 95) * 1000 for w, v in t.items()} for n, t in times.items()},
            "seconds": times,
        },
    )
    say(f"results in {out}")


if __name__ == "__main__":
    main()
