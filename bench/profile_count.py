"""Where a count request's time goes: SQL queries per request and a cProfile of the full Django stack.

Usage::

    .venv/bin/python bench/profile_count.py --participants 10000 [--requests 30] [--top 30]

Needs the bench study ``p<N>`` (``bench/counts.py --participants N --seed-only`` creates it). Sends
``POST /api/v1/studies/p<N>/count`` through Django's test ``Client`` in this process (every middleware, token
authentication, throttle, the view, ``query_count``, audit), ``--requests`` times as cache hits (one repeated
spec) and as cache misses (distinct equivalent specs), and prints per kind: median in-process latency (without and
with the profiler), the SQL statements each request issued (with their time) and the top functions by cumulative
time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time
from collections import Counter
from typing import Any

from common import (
    BENCH_HOST,
    bench_db_ensure,
    django_setup,
    load,
    redis_flush,
    say,
    study_seed,
    study_slug,
    token_create,
)
from counts import count_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    django_setup()
    bench_db_ensure()
    study_seed(args.participants)
    token = token_create()
    redis_flush()

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST=BENCH_HOST)
    path = f"/api/v1/studies/{study_slug(args.participants)}/count"
    headers = {"Authorization": f"Bearer {token}"}

    def post(i: int) -> Any:
        response = client.post(path, count_spec(i), content_type="application/json", headers=headers)
        assert response.status_code == 200, response.content
        return response

    for i in range(3):
        post(3990 + i)  # warm-up (imports, connections)
    post(0)  # prime the cached spec
    for kind, index in (("cache hit", lambda i: 0), ("cache miss", lambda i: 3000 + i)):
        say(f"{kind}: {args.requests} requests without, then {args.requests} with the profiler")
        plain: list[float] = []
        for i in range(args.requests):
            started = time.perf_counter()
            post(index(i) + (500 if kind == "cache miss" else 0))
            plain.append(time.perf_counter() - started)
        seconds: list[float] = []
        statements: Counter[str] = Counter()
        sql_time: Counter[str] = Counter()
        profiler = cProfile.Profile()
        for i in range(args.requests):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                profiler.enable()
                post(index(i))
                profiler.disable()
                seconds.append(time.perf_counter() - started)
            for q in queries.captured_queries:
                shape = _shape(q["sql"])
                statements[shape] += 1
                sql_time[shape] += float(q["time"])
        print(
            f"\n## {kind}: median {statistics.median(plain) * 1000:.1f} ms in-process without the profiler, "
            f"{statistics.median(seconds) * 1000:.1f} ms with it (load {load()})"
        )
        print(f"SQL statements per request: {sum(statements.values()) / args.requests:.1f}")
        for shape, count in statements.most_common():
            print(f"  {count / args.requests:4.1f} x  {sql_time[shape] / count * 1000:6.2f} ms  {shape}")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
        print(_trim(out.getvalue()))


def _shape(sql: str) -> str:
    """A short, stable label for an SQL statement (values dropped)."""
    text = " ".join(sql.split())
    head = text[:140]
    return head + ("..." if len(text) > 140 else "")


def _trim(report: str) -> str:
    lines = report.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
    return "\n".join(lines[start:])


if __name__ == "__main__":
    main()
