"""Query runs and CSV export vs raw DuckDB ``COPY``.

Usage::

    .venv/bin/python bench/runs.py --participants 100000 [--rounds 5]

Uses the bench study ``p<N>`` (generated and ingested like ``bench/counts.py`` does, if missing). Each of
``--rounds`` interleaved rounds (after one warm-up round) measures:

* **run (service)**: a merged long query (all demographics columns + 3 columns each of ``cognitive`` and
  ``flanker``, no filters, so N x 3 rows) created with ``queries.services.query_run_create`` and executed in this
  process with ``queries.run_worker.query_run_execute`` (the worker's code path: engine run to Parquet, storage
  save, sha256, cache seeding, audit). ``reuse=False, enqueue=False``: every round is a fresh run (no cached
  result is reused) that no Celery worker picks up;
* **run (engine only)**: ``query_prepare`` + ``engine_create`` + ``DuckDBEngine.run`` to a scratch file;
* **run (compiled SQL)**: the compiled SQL (``compile_rows``) run by ``COPY`` on one long-lived engine whose views
  are registered once, with ``LIMIT max_rows + 1`` (as the DuckDB engine compiled it before R1) and without it (as
  it runs since R1); the engine's private cursor is used for this;
* **run (raw)**: a hand-written equivalent (LEFT JOINs on id + session, ORDER BY id, session) ``COPY``'d to zstd
  Parquet on a warm DuckDB connection (threads=2, memory_limit=2GB);
* **export**: ``queries.exports.run_export(format="csv")`` of the run's result; raw DuckDB
  ``COPY (SELECT * FROM read_parquet(result)) TO x.csv`` (same input and rows); raw ``COPY (merged query) TO x.csv``;
  and a *prototype* of the suggested fix (DuckDB ``COPY`` with a formula-safe projection, :func:`duckdb_safe_csv`),
  whose output is compared byte for byte with ``run_export``'s.

Throughput = result rows / s and MB (10^6 bytes) of CSV written / s.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import (
    BENCH_ANALYST,
    DATA,
    DUCKDB_MEMORY,
    DUCKDB_THREADS,
    ROOT,
    bench_db_ensure,
    bench_tenant,
    django_setup,
    duck,
    machine_facts,
    md_table,
    median,
    result_save,
    say,
    study_parquet_paths,
    study_seed,
    study_slug,
    token_create,
)

PICKS = {
    "cognitive": ["working_memory", "processing_speed", "attention_score"],
    "flanker": ["rt_congruent", "accuracy", "interference"],
}
RUN_SPEC: dict[str, Any] = {"columns": PICKS, "shape": "long"}

SERVICE = "run: query_run_create + query_run_execute (service)"
ENGINE = "run: engine only (query_prepare + DuckDBEngine.run)"
RAW_RUN = "run: raw DuckDB COPY (merged query) TO parquet"
COMPILED = "run: compiled SQL with LIMIT max_rows + 1 (before R1), warm engine, COPY TO parquet"
COMPILED_NOLIMIT = "run: compiled SQL without the LIMIT (as run since R1), warm engine, COPY TO parquet"
EXPORT = "export: run_export(format=csv)"
RAW_CSV = "export: raw DuckDB COPY (result Parquet) TO csv"
RAW_MERGED_CSV = "export: raw DuckDB COPY (merged query) TO csv"
PROTO_CSV = "export: prototype fix, DuckDB COPY with formula-safe projection"
RUNS = (SERVICE, ENGINE, COMPILED, COMPILED_NOLIMIT, RAW_RUN)
EXPORTS = (EXPORT, RAW_CSV, RAW_MERGED_CSV, PROTO_CSV)


def merged_sql(parquet: dict[str, Path]) -> str:
    picks = ", ".join(f"{alias}.{col}" for name, alias in (("cognitive", "c"), ("flanker", "f")) for col in PICKS[name])
    return f"""
        SELECT d.*, {picks}
        FROM read_parquet('{parquet["demographics"]}') d
        LEFT JOIN read_parquet('{parquet["cognitive"]}') c
               ON c.participant_id = d.participant_id AND c.session = d.session
        LEFT JOIN read_parquet('{parquet["flanker"]}') f
               ON f.participant_id = d.participant_id AND f.session = d.session
        ORDER BY d.participant_id, d.session"""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_safe_csv(con: Any, source: Path, target: Path, names: Sequence[str], types: Sequence[str]) -> None:
    """Prototype of the suggested ``queries.exports.result_csv_write``: the same bytes, written by DuckDB.

    Mirrors ``_cell``/``csv_safe``: strings starting with = + - @ TAB CR get a leading quote, NaN/inf and NULL are
    empty, booleans true/false, dates ISO, timestamps ``isoformat()`` (``T``, microseconds only when non-zero),
    header names formula-safe too, CRLF line ends like Python's ``csv.writer``.

    Row order (DuckDB 2.0.1): the prefix test is a chain of ``starts_with``. Written as ``left(col, 1) IN (...)``
    the same COPY wrote rows out of order with 2 threads although ``preserve_insertion_order`` is on, and with
    ``PRESERVE_ORDER`` it was twice as slow. ``PRESERVE_ORDER`` stays explicit anyway.
    """
    from core.csv_safety import csv_safe

    items = []
    for name, kind in zip(names, types, strict=True):
        col = _ident(name)
        if kind == "string":
            risky = " OR ".join(f"starts_with({col}, {p})" for p in ("'='", "'+'", "'-'", "'@'", "chr(9)", "chr(13)"))
            expr = f"CASE WHEN {risky} THEN '''' || {col} ELSE NULLIF({col}, '') END"
        elif kind == "float":
            expr = f"CASE WHEN isnan({col}) OR isinf({col}) THEN NULL ELSE {col} END"
        elif kind == "timestamp":
            expr = (
                f"CASE WHEN microsecond({col}) % 1000000 = 0 THEN strftime({col}, '%Y-%m-%dT%H:%M:%S') "
                f"ELSE strftime({col}, '%Y-%m-%dT%H:%M:%S.%f') END"
            )
        else:
            expr = col
        items.append(f"{expr} AS {_ident(str(csv_safe(name)))}")
    con.execute(
        f"COPY (SELECT {', '.join(items)} FROM read_parquet({_text(str(source))})) TO {_text(str(target))} "
        "(FORMAT csv, HEADER true, NEW_LINE '\\r\\n', PRESERVE_ORDER)"
    )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def misplaced_rows(csv_path: Path, parquet_path: Path) -> int:
    """Rows of an exported CSV whose first column differs from the result Parquet's at the same position."""
    import csv

    import pyarrow.parquet as pq

    expected = pq.ParquetFile(parquet_path).read(columns=[pq.read_schema(parquet_path).names[0]]).column(0).to_pylist()
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        got = [row[0] for row in reader]
    if len(got) != len(expected):
        return abs(len(got) - len(expected)) + sum(1 for a, b in zip(got, expected, strict=False) if a != str(b))
    return sum(1 for a, b in zip(got, expected, strict=True) if a != str(b))


def first_difference(a: Path, b: Path) -> str:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for number, (la, lb) in enumerate(zip(fa, fb, strict=False), start=1):
            if la != lb:
                return f"line {number}: {la[:120]!r} vs {lb[:120]!r}"
    return "one file is a prefix of the other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n = args.participants

    django_setup()
    bench_db_ensure()
    study_seed(n)
    token_create()  # makes sure the analyst exists and is a member
    parquet = study_parquet_paths(n)
    scratch = DATA / "runs-work"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)

    from django_tenants.utils import tenant_context

    from core.config import config_get
    from datasets.models import Study
    from queries.core.compiler import compile_rows
    from queries.core.spec import spec_parse
    from queries.execution import engine_create, query_prepare
    from queries.exports import run_export
    from queries.models import QueryRun, RunStatus
    from queries.results import run_result_path
    from queries.run_worker import query_run_execute
    from queries.services import query_run_create
    from tenants.models import User

    tenant = bench_tenant()
    times: dict[str, list[float]] = {}
    loads: list[float] = []
    sizes: dict[str, int] = {}
    rows: dict[str, int] = {}
    con = duck(DUCKDB_THREADS, DUCKDB_MEMORY)
    merged = merged_sql(parquet)

    with tenant_context(tenant):
        study = Study.objects.select_related("demographics").get(slug=study_slug(n))
        actor = User.objects.get(email=BENCH_ANALYST)
        state: dict[str, QueryRun] = {}

        def service_run() -> None:
            run = query_run_create(  # a fresh run every time, executed here instead of by a worker
                tenant=tenant, actor=actor, study=study, payload=RUN_SPEC, reuse=False, enqueue=False
            )
            status = query_run_execute(run.pk)
            if status != RunStatus.SUCCEEDED:
                raise RuntimeError(f"run {run.pk} {status}: {QueryRun.objects.get(pk=run.pk).error_message}")
            state["run"] = QueryRun.objects.get(pk=run.pk)
            rows[SERVICE] = state["run"].row_count or 0

        def engine_run() -> None:
            prepared = query_prepare(tenant=tenant, study=study, spec=spec_parse(RUN_SPEC))
            engine = engine_create(
                study,
                timeout_s=float(config_get("query_timeout_seconds", tenant)),
                max_rows=int(config_get("max_result_rows", tenant)),
            )
            try:
                rows[ENGINE] = engine.run(prepared.validated, prepared.catalog, scratch / "engine.parquet").row_count
            finally:
                engine.close()

        prepared = query_prepare(tenant=tenant, study=study, spec=spec_parse(RUN_SPEC))
        max_rows = int(config_get("max_result_rows", tenant))
        warm = engine_create(study, timeout_s=600.0, max_rows=max_rows)  # views registered once, below
        warm._prepare(prepared.catalog, warm._datasets(prepared.catalog, prepared.validated.joined))
        compiled_sql = compile_rows(prepared.validated, prepared.catalog, "duckdb", "long", limit=max_rows + 1)
        assert compiled_sql.endswith(f" LIMIT {max_rows + 1}"), compiled_sql[-80:]

        def compiled(name: str, sql: str) -> None:
            target = scratch / "compiled.parquet"
            out = warm._con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
            rows[name] = int(out.fetchone()[0])

        def raw_run() -> None:
            out = con.execute(f"COPY ({merged}) TO '{scratch / 'raw.parquet'}' (FORMAT parquet, COMPRESSION zstd)")
            rows[RAW_RUN] = int(out.fetchone()[0])

        def export_csv() -> None:
            file = run_export(
                tenant=tenant, run=state["run"], fmt="csv", purpose="benchmark export throughput", actor=actor
            )
            sizes[EXPORT], rows[EXPORT] = file.path.stat().st_size, file.rows
            shutil.move(file.path, scratch / "export.csv")
            shutil.rmtree(file.path.parent, ignore_errors=True)

        def raw_csv() -> None:
            target = scratch / "raw-result.csv"
            source = run_result_path(state["run"])
            out = con.execute(f"COPY (SELECT * FROM read_parquet('{source}')) TO '{target}' (FORMAT csv, HEADER true)")
            sizes[RAW_CSV], rows[RAW_CSV] = target.stat().st_size, int(out.fetchone()[0])

        def raw_merged_csv() -> None:
            target = scratch / "raw-merged.csv"
            out = con.execute(f"COPY ({merged}) TO '{target}' (FORMAT csv, HEADER true)")
            sizes[RAW_MERGED_CSV], rows[RAW_MERGED_CSV] = target.stat().st_size, int(out.fetchone()[0])

        def proto_csv() -> None:
            run = state["run"]
            target = scratch / "proto.csv"
            duckdb_safe_csv(con, run_result_path(run), target, run.columns, run.column_types)
            sizes[PROTO_CSV], rows[PROTO_CSV] = target.stat().st_size, run.row_count or 0

        steps: list[tuple[str, Callable[[], None]]] = [
            (SERVICE, service_run),
            (ENGINE, engine_run),
            (COMPILED, lambda: compiled(COMPILED, compiled_sql)),
            (COMPILED_NOLIMIT, lambda: compiled(COMPILED_NOLIMIT, compiled_sql.rsplit(" LIMIT ", 1)[0])),
            (RAW_RUN, raw_run),
            (EXPORT, export_csv),
            (RAW_CSV, raw_csv),
            (RAW_MERGED_CSV, raw_merged_csv),
            (PROTO_CSV, proto_csv),
        ]
        say(f"{args.rounds} interleaved rounds (+1 warm-up round)")
        for r in range(-1, args.rounds):
            loads.append(os.getloadavg()[0])
            for name, fn in steps:
                started = time.perf_counter()
                fn()
                if r >= 0:
                    times.setdefault(name, []).append(time.perf_counter() - started)
            if r >= 0:
                say(f"round {r + 1}: " + ", ".join(f"{name.split(':')[0]} {t[-1]:.2f}s" for name, t in times.items()))
        run = state["run"]
        export_misplaced = misplaced_rows(scratch / "export.csv", run_result_path(run))
        proto_misplaced = misplaced_rows(scratch / "proto.csv", run_result_path(run))
        identical = sha256(scratch / "export.csv") == sha256(scratch / "proto.csv")
        difference = "" if identical else first_difference(scratch / "export.csv", scratch / "proto.csv")
        facts = {
            "rows": run.row_count,
            "columns": list(run.columns),
            "column_types": list(run.column_types),
            "result_mb": (run.result_size or 0) / 1e6,
            "run_export_rows_out_of_result_order": export_misplaced,
            "prototype_rows_out_of_result_order": proto_misplaced,
            "prototype_identical_to_run_export": identical,
            "prototype_difference": difference,
        }
    con.close()
    warm.close()
    shutil.rmtree(scratch, ignore_errors=True)
    if len(set(rows.values())) != 1:
        raise SystemExit(f"row counts disagree: {rows}")
    report(n, times, loads, sizes, facts)


def report(
    n: int, times: dict[str, list[float]], loads: list[float], sizes: dict[str, int], facts: dict[str, Any]
) -> None:
    rows = facts["rows"]
    raw_run, raw_csv = median(times[RAW_RUN]), median(times[RAW_CSV])
    table = []
    for name in (*RUNS, *EXPORTS):
        p50 = median(times[name])
        runs = ", ".join(f"{x:.2f}" for x in times[name])
        if name in RUNS:
            table.append([name, runs, f"{p50:.2f}", f"{rows / p50:,.0f} rows/s", f"{p50 / raw_run:.2f}x raw time"])
        else:
            mb = sizes[name] / 1e6
            table.append(
                [
                    name,
                    runs,
                    f"{p50:.2f}",
                    f"{rows / p50:,.0f} rows/s, {mb / p50:.1f} MB/s ({mb:.1f} MB)",
                    f"{raw_csv / p50:.2f}x raw throughput",
                ]
            )
    ratio = raw_csv / median(times[EXPORT])
    print(
        f"\n{n:,} participants; result: {rows:,} rows x {len(facts['columns'])} columns, "
        f"{facts['result_mb']:.1f} MB Parquet"
    )
    print(f"1-minute load average during the rounds: median {median(loads):.2f} (min {min(loads)}, max {max(loads)})\n")
    print(md_table(["operation", "rounds (s)", "median (s)", "throughput", "vs raw COPY"], table))
    print(f"\ntarget: export throughput >= 0.8x raw COPY -> {'met' if ratio >= 0.8 else 'MISSED'} ({ratio:.2f}x)")
    same = facts["prototype_identical_to_run_export"]
    print(f"prototype CSV byte-identical to run_export's: {same} {facts['prototype_difference']}")
    print(
        "rows not at their result position (last round): "
        f"run_export {facts['run_export_rows_out_of_result_order']:,}, "
        f"prototype {facts['prototype_rows_out_of_result_order']:,}"
    )
    out = result_save(
        f"runs-p{n}",
        {
            "machine": machine_facts(),
            "participants": n,
            "spec": RUN_SPEC,
            **facts,
            "csv_bytes": sizes,
            "load_1min": {"median": median(loads), "min": min(loads), "max": max(loads), "samples": loads},
            "p50_s": {name: median(v) for name, v in times.items()},
            "seconds": times,
        },
    )
    print(f"\nresults: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
