"""Query runs and CSV export vs raw DuckDB ``COPY``.

Usage::

    .venv/bin/python bench/runs.py --participants 100000 [--repeats 5]

Uses the bench study ``p<N>`` (generated and ingested like ``bench/counts.py`` does, if missing). Measures:

* a merged long query (all demographics columns + 3 columns each of ``cognitive`` and ``flanker``, no filters,
  so N x 3 rows) created with ``queries.services.query_run_create`` and executed in this process with
  ``queries.run_executor.query_run_execute`` (the worker's code path: engine run to Parquet, storage save,
  sha256, cache seeding, audit). Celery enqueueing is replaced by a no-op in this process only, and each repeat
  is a re-run (``rerun_of``) so no cached result is reused;
* the engine alone (``query_prepare`` + ``engine_create`` + ``DuckDBEngine.run``), to split engine from service;
* raw DuckDB: a hand-written equivalent (LEFT JOINs on id + session, ORDER BY id, session) ``COPY``'d to zstd
  Parquet;
* CSV export: ``queries.exports.run_export(format="csv")`` of the run's result vs raw DuckDB
  ``COPY (SELECT * FROM read_parquet(result)) TO x.csv`` (same input, same rows) and vs ``COPY (merged query) TO
  x.csv``. Throughput = result rows / s and MB of CSV written / s.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from common import (
    BENCH_ANALYST,
    DATA,
    DUCKDB_MEMORY,
    DUCKDB_THREADS,
    ROOT,
    Series,
    bench_db_ensure,
    bench_tenant,
    django_setup,
    duck,
    load,
    machine_facts,
    md_table,
    measure,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n, repeats = args.participants, args.repeats

    django_setup()
    bench_db_ensure()
    study_seed(n)
    token_create()  # makes sure the analyst exists and is a member
    parquet = study_parquet_paths(n)
    scratch = DATA / "runs-work"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)

    from django_tenants.utils import tenant_context

    import queries.services
    from bdt_project.config import config_get
    from datasets.models import Study
    from queries.exports import run_export
    from queries.models import QueryRun, RunStatus
    from queries.results import run_result_path
    from queries.run_executor import query_run_execute
    from queries.services import query_run_create
    from tenants.models import User

    queries.services._enqueue = lambda run_id: None  # type: ignore[attr-defined] # executed below, in-process
    tenant = bench_tenant()
    series: list[Series] = []
    facts: dict[str, Any] = {}
    with tenant_context(tenant):
        study = Study.objects.select_related("demographics").get(slug=study_slug(n))
        actor = User.objects.get(email=BENCH_ANALYST)
        first = query_run_create(tenant=tenant, actor=actor, study=study, payload=RUN_SPEC)
        runs: list[QueryRun] = []

        def service_run(i: int) -> None:
            run = query_run_create(tenant=tenant, actor=actor, study=study, payload=RUN_SPEC, rerun_of=first)
            status = query_run_execute(run.pk)
            if status != RunStatus.SUCCEEDED:
                raise RuntimeError(f"run {run.pk} {status}: {QueryRun.objects.get(pk=run.pk).error_message}")
            runs.append(QueryRun.objects.get(pk=run.pk))

        if first.status == RunStatus.QUEUED:
            query_run_execute(first.pk)
        say("query runs through query_run_execute")
        series.append(measure("run: query_run_create + query_run_execute (service)", service_run, repeats, warmup=1))
        last = runs[-1]
        facts["rows"] = last.row_count
        facts["result_mb"] = (last.result_size or 0) / 1e6
        facts["columns"] = list(last.columns)

        from queries.execution import engine_create, query_prepare

        def engine_run(i: int) -> None:
            prepared = query_prepare(study, RUN_SPEC)
            engine = engine_create(
                study,
                timeout_s=float(config_get("query_timeout_seconds", tenant)),
                max_rows=int(config_get("max_result_rows", tenant)),
            )
            try:
                result = engine.run(prepared.validated, prepared.catalog, scratch / "engine.parquet")
            finally:
                engine.close()
            assert result.row_count == facts["rows"]

        series.append(measure("run: engine only (prepare + DuckDBEngine.run)", engine_run, repeats, warmup=1))

        con = duck(DUCKDB_THREADS, DUCKDB_MEMORY)
        merged = merged_sql(parquet)

        def raw_run(i: int) -> None:
            target = scratch / "raw.parquet"
            rows = con.execute(f"COPY ({merged}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)").fetchone()
            assert rows is not None and rows[0] == facts["rows"], rows

        series.append(measure("run: raw DuckDB COPY (merged query) TO parquet", raw_run, repeats, warmup=1))
        (scratch / "raw.parquet").unlink(missing_ok=True)
        (scratch / "engine.parquet").unlink(missing_ok=True)

        say("CSV export")
        exported: dict[str, int] = {}

        def export_csv(i: int) -> None:
            file = run_export(run=last, fmt="csv", purpose="benchmark export throughput", actor=actor)
            exported["bytes"], exported["rows"] = file.path.stat().st_size, file.rows
            shutil.rmtree(file.path.parent, ignore_errors=True)

        series.append(measure("export: run_export(format=csv)", export_csv, repeats, warmup=1))
        result_path = run_result_path(last)
        raw_csv: dict[str, int] = {}

        def copy_result_csv(i: int) -> None:
            target = scratch / "raw-result.csv"
            con.execute(f"COPY (SELECT * FROM read_parquet('{result_path}')) TO '{target}' (FORMAT csv, HEADER true)")
            raw_csv["result"] = target.stat().st_size

        def copy_merged_csv(i: int) -> None:
            target = scratch / "raw-merged.csv"
            con.execute(f"COPY ({merged}) TO '{target}' (FORMAT csv, HEADER true)")
            raw_csv["merged"] = target.stat().st_size

        series.append(measure("export: raw DuckDB COPY (result Parquet) TO csv", copy_result_csv, repeats, warmup=1))
        series.append(measure("export: raw DuckDB COPY (merged query) TO csv", copy_merged_csv, repeats, warmup=1))
        con.close()
    shutil.rmtree(scratch, ignore_errors=True)

    rows = facts["rows"]
    csv_mb = {
        "export: run_export(format=csv)": exported["bytes"] / 1e6,
        "export: raw DuckDB COPY (result Parquet) TO csv": raw_csv["result"] / 1e6,
        "export: raw DuckDB COPY (merged query) TO csv": raw_csv["merged"] / 1e6,
    }
    table_rows = []
    raw_run_p50 = series[2].p50
    raw_export_p50 = series[4].p50
    for s in series:
        extra = ""
        if s.name.startswith("run:"):
            extra = f"{s.p50 / raw_run_p50:.1f}x raw COPY"
            thr = ""
        else:
            mb = csv_mb[s.name]
            thr = f"{rows / s.p50:,.0f} rows/s, {mb / s.p50:.1f} MB/s ({mb:.1f} MB)"
            extra = f"throughput {raw_export_p50 / s.p50:.2f}x of raw COPY (result Parquet)"
        table_rows.append(
            [
                s.name,
                ", ".join(f"{x:.2f}" for x in s.seconds),
                f"{s.p50:.2f}",
                thr,
                extra,
                f"{s.load_before} / {s.load_after}",
            ]
        )
    print(
        f"\n{n:,} participants; result: {rows:,} rows x {len(facts['columns'])} columns, "
        f"{facts['result_mb']:.1f} MB Parquet\n"
    )
    print(md_table(["operation", "runs (s)", "median (s)", "throughput", "ratio", "load before / after"], table_rows))
    ratio = raw_export_p50 / series[3].p50
    print(f"\ntarget: export throughput >= 0.8x raw COPY -> {'met' if ratio >= 0.8 else 'MISSED'} ({ratio:.2f}x)")
    out = result_save(
        f"runs-p{n}",
        {
            "machine": machine_facts(),
            "participants": n,
            "spec": RUN_SPEC,
            **facts,
            "csv_mb": csv_mb,
            "series": [s.as_dict() for s in series],
            "load_end": load(),
        },
    )
    print(f"\nresults: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
