"""Count latency: HTTP API (cache miss and cache hit) vs raw DuckDB on the same Parquet vs BDT's way (CSV scans).

Usage::

    .venv/bin/python bench/counts.py --participants 100000 [--rounds 41] [--hits 2] [--bdt 11]
                                     [--server gunicorn|runserver] [--seed-only] [--store]

Steps (all idempotent; generated data is reused):

1. Generate ``bench/data/studies/p<N>/{demographics,cognitive,flanker,mood}.csv`` with DuckDB (N participants x
   sessions BAS1/BAS2/FU1; multi-valued site cells, fractions, quoted text, gaps).
2. Create/migrate the ``bdt_bench`` database, the ``bench`` tenant (``tenant_create``) and an analyst token
   (``token_create``); ingest the CSVs into study ``p<N>`` with ``datasets.services.ingest_file_sync`` (once).
3. Measure the same count (site Discovery, sessions BAS1+FU1, demographics.age between 20 and 60,
   cognitive.working_memory between ~95.05 and 130) in ``--rounds`` interleaved rounds (after one warm-up round),
   so that load changes on the shared machine hit every method alike. Each round runs:

   * raw DuckDB, hand-written SQL over the study's Parquet files (the version cache the engine reads), with the
     site token test written with ``regexp_replace``: on one warm connection, and on a new connection per call
     (threads=2, memory_limit=2GB like the engine); and once more with the site test written with ``translate``
     exactly as the compiler emits it;
   * the compiled count SQL (``compile_count``) executed on one long-lived engine whose views are registered once,
     as compiled and with its ``TRANSLATE`` rewritten to ``REGEXP_REPLACE`` (what-if for the suggested fix; skipped
     since the compiler emits ``REGEXP_REPLACE`` itself, commit 4c48703);
   * BDT's way (first ``--bdt`` rounds): one process-wide DuckDB connection, ``read_csv_auto`` over the CSVs;
   * in this process: the steps of ``queries.services.query_count`` timed one by one (prepare / engine create /
     view registration / compile / count / close / cache / audit), then ``query_count`` itself, miss and hit;
   * HTTP against gunicorn (1 sync worker, ``DJANGO_DEBUG=0``, free port): ``POST /api/v1/studies/p<N>/count``
     with a bearer token as a cache miss, ``--hits`` times as a cache hit, and two floors (``GET /api/v1/health``,
     ``GET /api/v1/me``).

   Cache misses use distinct but equivalent specs (the working_memory lower bound varies in steps of 1e-5 inside
   (95.05, 95.09), where no value of that 1-decimal column lies), so every request computes; cache hits repeat one
   spec primed in the warm-up round. Redis DB 9 (the bench's own) is flushed once at start.

Every method must return the same (participants, rows); the script fails otherwise.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import (
    BENCH_ANALYST,
    DUCKDB_MEMORY,
    DUCKDB_THREADS,
    ROOT,
    bench_db_ensure,
    bench_tenant,
    django_setup,
    duck,
    http_request,
    machine_facts,
    md_table,
    median,
    ms,
    percentile,
    redis_flush,
    result_save,
    say,
    server,
    study_csvs,
    study_parquet_paths,
    study_seed,
    study_slug,
    study_store_build,
    token_create,
)

from queries.core.spec import SITE_SEPARATORS  # importable: common put the checkout on sys.path

SITE = "Discovery"
SESSIONS = ("BAS1", "FU1")
AGE = (20, 60)
WM_LO, WM_HI, WM_STEP = 95.05, 130, 1e-5  # no working_memory value (1 decimal) lies in (95.05, 95.09)


def count_spec(i: int) -> dict[str, Any]:
    """The benchmark spec; ``i`` (0..3999) varies the lower bound without changing the answer."""
    assert 0 <= i < 4000
    return {
        "sites": [SITE],
        "sessions": list(SESSIONS),
        "filters": [
            {"dataset": "demographics", "column": "age", "op": "between", "value": list(AGE)},
            {
                "dataset": "cognitive",
                "column": "working_memory",
                "op": "between",
                "value": [WM_LO + i * WM_STEP, WM_HI],
            },
        ],
    }


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# Site token match (docs/query-core.md "Sites"): separators -> spaces, then look for " <site> " in the padded cell.
_RE2_ESCAPES = {"\t": "\\t", "\r": "\\r", "\n": "\\n", "[": "\\[", "]": "\\]"}
SITE_SEPARATORS_SQL = _sql_text(SITE_SEPARATORS)  # the literal the compiler passes to TRANSLATE
SITE_CLASS_SQL = _sql_text("[" + "".join(_RE2_ESCAPES.get(ch, ch) for ch in SITE_SEPARATORS) + "]")
SPACES_SQL = _sql_text(" " * len(SITE_SEPARATORS))


def site_condition(column: str, how: str) -> str:
    """The site test, written with ``regexp_replace`` (hand-written baseline) or ``translate`` (as compiled)."""
    if how == "translate":
        spaced = f"translate({column}, {SITE_SEPARATORS_SQL}, {SPACES_SQL})"
    else:
        spaced = f"regexp_replace({column}, {SITE_CLASS_SQL}, ' ', 'g')"
    return f"strpos(' ' || {spaced} || ' ', ' {SITE} ') > 0"


def raw_sql(demo: str, cognitive: str, lo: float, *, csv: bool = False, site: str = "regexp") -> str:
    """The count written by hand: participants = distinct ids, rows = distinct (id, session)."""
    reader = "read_csv_auto" if csv else "read_parquet"
    sessions = ", ".join(f"'{s}'" for s in SESSIONS)
    return f"""
        SELECT COUNT(DISTINCT participant_id), COUNT(*) FROM (
            SELECT DISTINCT d.participant_id, d.session
            FROM {reader}('{demo}') d
            JOIN {reader}('{cognitive}') c ON c.participant_id = d.participant_id AND c.session = d.session
            WHERE {site_condition("d.site", site)}
              AND d.session IN ({sessions})
              AND d.age BETWEEN {AGE[0]} AND {AGE[1]}
              AND c.working_memory BETWEEN {lo!r} AND {WM_HI})"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 41; 15 above 100k participants)")
    parser.add_argument("--hits", type=int, default=2, help="HTTP cache-hit requests per round")
    parser.add_argument("--bdt", type=int, help="rounds with the (slow) BDT-way count (default 11; 5 above 100k)")
    parser.add_argument("--server", choices=("gunicorn", "runserver"), default="gunicorn")
    parser.add_argument("--seed-only", action="store_true", help="generate + ingest, measure nothing")
    parser.add_argument(
        "--store", action="store_true", help="build the study's participant index store first (as a worker does)"
    )
    args = parser.parse_args()
    n = args.participants
    big = n > 100_000
    args.rounds = (15 if big else 41) if args.rounds is None else args.rounds
    args.bdt = (5 if big else 11) if args.bdt is None else args.bdt

    csvs = study_csvs(n)
    django_setup()
    bench_db_ensure()
    ingest_timings = study_seed(n)
    for name, t in ingest_timings.items():
        say(f"ingested {name}: {t['mb']:.0f} MB in {t['seconds']:.1f} s ({t['mb'] / t['seconds']:.1f} MB/s)")
    if args.seed_only:
        if ingest_timings:
            result_save(f"seed-p{n}", {"machine": machine_facts(), "participants": n, "ingest": ingest_timings})
        return
    if args.store:
        started = time.perf_counter()
        outcome = study_store_build(n)
        say(f"participant index store: {outcome} in {time.perf_counter() - started:.1f} s")
    token = token_create()  # also makes sure the analyst user exists and is a member
    parquet = study_parquet_paths(n)
    redis_flush()
    answers: dict[str, set[tuple[int, int]]] = {}
    times: dict[str, list[float]] = {}
    loads: list[float] = []

    def check(method: str, answer: Any) -> None:
        answers.setdefault(method, set()).add((int(answer[0]), int(answer[1])))

    def timed(name: str, record: bool, fn: Callable[..., Any], *args: Any) -> Any:
        started = time.perf_counter()
        result = fn(*args)
        if record:
            times.setdefault(name, []).append(time.perf_counter() - started)
        return result

    demo_pq, cog_pq = str(parquet["demographics"]), str(parquet["cognitive"])
    demo_csv, cog_csv = str(csvs["demographics"]), str(csvs["cognitive"])
    warm = duck(DUCKDB_THREADS, DUCKDB_MEMORY)  # one connection for the whole run
    bdt = duck(DUCKDB_THREADS, DUCKDB_MEMORY)  # BDT: one process-wide connection, CSVs re-read on every call

    def raw_warm(i: int) -> Any:
        return warm.execute(raw_sql(demo_pq, cog_pq, _lo(i))).fetchall()[0]

    def bdt_way(i: int) -> Any:
        return bdt.execute(raw_sql(demo_csv, cog_csv, _lo(i), csv=True)).fetchall()[0]

    def raw_translate(i: int) -> Any:
        return warm.execute(raw_sql(demo_pq, cog_pq, _lo(i), site="translate")).fetchall()[0]

    def raw_fresh(i: int) -> Any:
        fresh = duck(DUCKDB_THREADS, DUCKDB_MEMORY)
        try:
            return fresh.execute(raw_sql(demo_pq, cog_pq, _lo(i))).fetchone()
        finally:
            fresh.close()

    path = f"/api/v1/studies/{study_slug(n)}/count"
    inproc = InProcess(n)
    with server(args.server) as port:

        def post(i: int) -> Any:
            status, body = http_request(port, "POST", path, count_spec(i), token)
            if status != 200:
                raise RuntimeError(f"count answered {status}: {body}")
            return body["participants"], body["rows"]

        def get(url: str, auth: bool) -> None:
            status, body = http_request(port, "GET", url, None, token if auth else None)
            if status != 200:
                raise RuntimeError(f"{url} answered {status}: {body}")

        say(f"{args.rounds} interleaved rounds (+1 warm-up round)")
        for r in range(-1, args.rounds):
            record = r >= 0  # round -1 warms every path up (imports, connections, first DuckDB use)
            i = r if record else 3990
            loads.append(os.getloadavg()[0])
            check("raw", timed(RAW_WARM, record, raw_warm, i))
            check("raw", timed(RAW_FRESH, record, raw_fresh, i))
            check("raw", timed(RAW_TRANSLATE, record, raw_translate, i))
            check("compiled", inproc.compiled(i, False, times if record else {}))
            whatif = inproc.compiled(i, True, times if record else {})
            if whatif != (-1, -1):
                check("compiled", whatif)
            if r < args.bdt:
                check("bdt", timed(BDT, record, bdt_way, i))
            check("steps", inproc.steps(1000 + i if record else 3991, times if record else {}))
            check("inproc", timed(INPROC_MISS, record, inproc.query_count, 1500 + i if record else 3992))
            check("inproc", timed(INPROC_HIT, record, inproc.query_count, 1))
            check("http", timed(HTTP_MISS, record, post, 2000 + i if record else 3993))
            for _ in range(args.hits):
                check("http", timed(HTTP_HIT, record, post, 0))
            timed(HTTP_HEALTH, record, get, "/api/v1/health", False)
            timed(HTTP_ME, record, get, "/api/v1/me", True)
            if record and (r + 1) % 10 == 0:
                say(f"round {r + 1}/{args.rounds}: HTTP miss p50 {ms(median(times[HTTP_MISS]))} ms")
    warm.close()
    bdt.close()

    distinct = {a for values in answers.values() for a in values}
    if len(distinct) != 1:
        raise SystemExit(f"methods disagree: {answers}")
    expected = distinct.pop()
    report(n, times, loads, expected, ingest_timings, parquet, csvs, args.server)


RAW_WARM = "raw DuckDB, Parquet, warm connection"
RAW_FRESH = "raw DuckDB, Parquet, new connection per call"
RAW_TRANSLATE = "raw DuckDB, warm, site test with translate() (compiler before 4c48703)"
COMPILED = "compiled count SQL as is, on a warm engine (views registered once)"
COMPILED_REGEXP = "compiled count SQL, TRANSLATE -> regexp_replace, warm engine"
BDT = "BDT's way: read_csv_auto over the CSVs, every call"
INPROC_MISS = "in-process query_count, cache miss"
INPROC_HIT = "in-process query_count, cache hit"
HTTP_MISS = "HTTP POST /count, cache miss (distinct equivalent specs)"
HTTP_HIT = "HTTP POST /count, cache hit (identical spec)"
HTTP_HEALTH = "HTTP floor: GET /api/v1/health (no tenant, no auth)"
HTTP_ME = "HTTP floor: GET /api/v1/me (tenant + token auth)"
STEPS = (
    "  1 query_prepare (versions query, catalog, validate)",
    "  2 engine_create (new DuckDB connection)",
    "  3 register views (read_schema + read_parquet + view)",
    "  4 compile_count (sqlglot), timed apart",
    "  5 engine.count (compile + execute)",
    "  6 engine.close",
    "  7 cache get + set",
    "  8 audit_event_record (advisory lock + insert)",
)
ORDER = (
    RAW_WARM,
    RAW_FRESH,
    RAW_TRANSLATE,
    COMPILED,
    COMPILED_REGEXP,
    BDT,
    INPROC_MISS,
    *STEPS,
    INPROC_HIT,
    HTTP_MISS,
    HTTP_HIT,
    HTTP_HEALTH,
    HTTP_ME,
)


def report(
    n: int,
    times: dict[str, list[float]],
    loads: list[float],
    expected: tuple[int, int],
    ingest_timings: dict[str, Any],
    parquet: dict[str, Path],
    csvs: dict[str, Path],
    server_kind: str,
) -> None:
    raw = median(times[RAW_WARM])
    miss, hit = median(times[HTTP_MISS]), median(times[HTTP_HIT])
    target = 1.5 * raw + 0.030
    rows = [
        [
            name,
            len(times[name]),
            ms(median(times[name])),
            ms(percentile(times[name], 95)),
            f"{median(times[name]) / raw:.2f}x",
        ]
        for name in ORDER
        if name in times
    ]
    load_text = f"{median(loads):.2f} (min {min(loads):.2f}, max {max(loads):.2f})"
    print(f"\n{n:,} participants x 3 sessions; answer: {expected[0]:,} participants, {expected[1]:,} rows")
    print(f"1-minute load average during the rounds: median {load_text}")
    print(
        f"target: HTTP cache-miss p50 <= 1.5 x raw + 30 ms = {target * 1000:.1f} ms -> "
        f"{'met' if miss <= target else 'MISSED'} ({miss * 1000:.1f} ms); "
        f"cache hit p50 < 20 ms -> {'met' if hit < 0.020 else 'MISSED'} ({hit * 1000:.1f} ms)\n"
    )
    print(md_table(["method", "n", "p50 (ms)", "p95 (ms)", "p50 / raw warm p50"], rows))
    out = result_save(
        f"counts-p{n}",
        {
            "machine": machine_facts(),
            "participants": n,
            "answer": expected,
            "spec": count_spec(0),
            "server": server_kind,
            "load_1min": {"median": median(loads), "min": min(loads), "max": max(loads), "samples": loads},
            "ingest_timings": ingest_timings,
            "parquet_mb": {k: Path(v).stat().st_size / 1e6 for k, v in parquet.items()},
            "csv_mb": {k: Path(v).stat().st_size / 1e6 for k, v in csvs.items()},
            "target_ms": target * 1000,
            "p50_ms": {name: median(v) * 1000 for name, v in times.items()},
            "p95_ms": {name: percentile(v, 95) * 1000 for name, v in times.items()},
            "seconds": times,
        },
    )
    print(f"\nresults: {out.relative_to(ROOT)}")


def _lo(i: int) -> float:
    return WM_LO + (i % 4000) * WM_STEP


class InProcess:
    """``query_count`` in this process, whole and step by step (the same calls it makes, timed one by one)."""

    def __init__(self, n: int) -> None:
        from django_tenants.utils import tenant_context

        from datasets.models import Study
        from tenants.models import User

        self.tenant = bench_tenant()
        with tenant_context(self.tenant):
            self.study = Study.objects.select_related("demographics").get(slug=study_slug(n))
            self.actor = User.objects.get(email=BENCH_ANALYST)
        self._warm: Any = None

    def compiled(self, i: int, regexp: bool, times: dict[str, list[float]]) -> tuple[int, int]:
        """The compiled count SQL on one long-lived engine (views registered once); optionally with the site test
        rewritten from TRANSLATE to regexp_replace (the suggested compiler change). Only the execution is timed."""
        from django_tenants.utils import tenant_context

        from core.config import config_get
        from queries.core.compiler import compile_count
        from queries.core.spec import spec_parse
        from queries.execution import engine_create, query_prepare

        with tenant_context(self.tenant):
            prepared = query_prepare(tenant=self.tenant, study=self.study, spec=spec_parse(count_spec(i)))
            if self._warm is None:
                timeout = float(config_get("count_timeout_seconds", self.tenant))
                self._warm = engine_create(self.study, timeout_s=timeout)
        sql = compile_count(prepared.validated, prepared.catalog, "duckdb")
        translate = f'TRANSLATE("d0"."c4", {SITE_SEPARATORS_SQL}, {SPACES_SQL})'
        if regexp and translate not in sql:
            return -1, -1  # the compiler no longer emits TRANSLATE (commit 4c48703): nothing to measure
        if regexp:
            sql = sql.replace(translate, f"REGEXP_REPLACE(\"d0\".\"c4\", {SITE_CLASS_SQL}, ' ', 'g')")
        engine = self._warm  # private attributes below: the engine's own connection, views registered once
        engine._prepare(prepared.catalog, engine._datasets(prepared.catalog, prepared.validated.filter_datasets))
        started = time.perf_counter()
        row = engine._con.execute(sql).fetchall()[0]  # to the end: DuckDB refuses other work on an unfinished result
        times.setdefault(COMPILED_REGEXP if regexp else COMPILED, []).append(time.perf_counter() - started)
        return int(row[0]), int(row[1])

    def query_count(self, i: int) -> tuple[int, int]:
        from django_tenants.utils import tenant_context

        from queries.services import query_count

        with tenant_context(self.tenant):
            result = query_count(tenant=self.tenant, actor=self.actor, study=self.study, payload=count_spec(i))
        return result["participants"], result["rows"]

    def steps(self, i: int, times: dict[str, list[float]]) -> tuple[int, int]:
        from django.core.cache import cache
        from django_tenants.utils import tenant_context

        from audit.services import audit_event_record
        from core.config import config_get
        from queries.core.compiler import compile_count
        from queries.core.spec import spec_parse
        from queries.execution import engine_create, query_prepare

        with tenant_context(self.tenant):
            marks = [time.perf_counter()]
            prepared = query_prepare(tenant=self.tenant, study=self.study, spec=spec_parse(count_spec(i)))
            marks.append(time.perf_counter())
            engine = engine_create(self.study, timeout_s=float(config_get("count_timeout_seconds", self.tenant)))
            marks.append(time.perf_counter())
            # private hooks, only to split view registration from the query itself
            # type: ignore[attr-defined]
            datasets = engine._datasets(prepared.catalog, prepared.validated.filter_datasets)
            engine._prepare(prepared.catalog, datasets)  # type: ignore[attr-defined]
            marks.append(time.perf_counter())
            compile_count(prepared.validated, prepared.catalog, "duckdb")
            marks.append(time.perf_counter())
            counted = engine.count(prepared.validated, prepared.catalog)
            marks.append(time.perf_counter())
            engine.close()
            marks.append(time.perf_counter())
            key = f"count:bench-steps:{prepared.cache_key}"
            cache.get(key)
            cache.set(key, {"participants": counted.participants, "rows": counted.rows}, 60)
            marks.append(time.perf_counter())
            audit_event_record(action="query.count", actor=self.actor, target=self.study, details={"bench": True})
            marks.append(time.perf_counter())
        for j, name in enumerate(STEPS):
            times.setdefault(name, []).append(marks[j + 1] - marks[j])
        return counted.participants, counted.rows


if __name__ == "__main__":
    main()
