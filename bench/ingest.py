"""Ingest throughput: ``datasets.ingest.ingest_csv`` (all stages) vs a plain DuckDB ``COPY ... TO parquet``.

Usage::

    .venv/bin/python bench/ingest.py [--size-mb 1000] [--repeats 3] [--threads N] [--memory-limit 3GB] [--clean]

Generates (once) ``bench/data/ingest-<size>mb.csv``: a longitudinal measure table (8-digit ids with leading
zeros, 4 sessions, numeric columns with fractions, a text column with quoted commas and quotes, 3-5 % missing
values). Then alternates, ``--repeats`` times each: the real pipeline (id + session key checks, profiling, typed
zstd Parquet, statistics) and ``COPY (SELECT * FROM read_csv(f, header=true)) TO x.parquet (FORMAT parquet,
COMPRESSION zstd)`` on a fresh DuckDB connection. Both sides get the same DuckDB threads and memory limit
(``--threads``/``--memory-limit``; by default DuckDB's: all cores, 80 % of RAM); every other setting is the same
on both sides too (zstd level 3, row groups of 122,880 rows, insertion order kept). Reports medians, MB/s (10^6
bytes of CSV per second), the ratio and the per-stage timings ``ingest_csv`` returns, plus the CPU seconds of each
run (user + system of this process, which runs DuckDB's threads): on a shared machine the CPU ratio is steadier
than the wall-clock ratio, because time spent waiting for a core is not counted. Generated Parquet files are
deleted after each run; the CSV is reused by later runs unless ``--clean``. Bound the process when the machine is
shared, e.g. ``(ulimit -v 12000000; .venv/bin/python bench/ingest.py --size-mb 400 --memory-limit 3GB)``.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from common import DATA, ROOT, env_apply, ingest_csv_file, load, machine_facts, md_table, median, result_save, say

STAGES = ("sniff", "parse", "validate", "types", "parquet", "stats")


def run_pipeline(csv: Path, work: Path, threads: int | None, memory_limit: str | None) -> dict[str, Any]:
    from datasets.ingest import IngestOptions, ingest_csv

    options = IngestOptions(
        id_column="participant_id",
        session_column="session",
        max_bytes=2 * 1024**3,
        duckdb_threads=threads,
        duckdb_memory_limit=memory_limit,
    )
    started, cpu = time.perf_counter(), time.process_time()
    result = ingest_csv(csv, work_dir=work, options=options)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    size = result.parquet_path.stat().st_size
    result.parquet_path.unlink()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "timings": dict(result.timings),
        "rows": result.row_count,
        "parquet_bytes": size,
    }


def run_raw_copy(csv: Path, work: Path, threads: int | None, memory_limit: str | None) -> dict[str, Any]:
    import duckdb

    target = work / "raw.parquet"
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "temp_directory": str(work / "spill"),
    }
    if threads is not None:
        config["threads"] = threads
    if memory_limit is not None:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(":memory:", config=config)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        con.execute(
            f"COPY (SELECT * FROM read_csv('{csv}', header=true)) TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
        )
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        con.close()
    size = target.stat().st_size
    target.unlink()
    return {"seconds": seconds, "cpu_seconds": cpu, "parquet_bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1000, help="CSV size to generate (10^6 bytes)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads on both sides (default: all cores)")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit on both sides, e.g. 3GB")
    parser.add_argument("--clean", action="store_true", help="delete the generated CSV afterwards")
    args = parser.parse_args()
    env_apply()

    csv = ingest_csv_file(args.size_mb)
    mb = csv.stat().st_size / 1e6
    work = DATA / "ingest-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    say(f"CSV {csv.relative_to(ROOT)}: {mb:.0f} MB")

    pipeline: list[dict[str, Any]] = []
    raw: list[dict[str, Any]] = []
    for i in range(args.repeats):  # alternate, so load drift hits both sides alike
        say(f"run {i + 1}/{args.repeats}: ingest_csv")
        pipeline.append({**run_pipeline(csv, work, args.threads, args.memory_limit), "load": load()})
        last = pipeline[-1]
        say(f"  {last['seconds']:.1f} s (CPU {last['cpu_seconds']:.1f} s)  stages {_fmt(last['timings'])}")
        say(f"run {i + 1}/{args.repeats}: raw DuckDB COPY")
        raw.append({**run_raw_copy(csv, work, args.threads, args.memory_limit), "load": load()})
        say(f"  {raw[-1]['seconds']:.1f} s (CPU {raw[-1]['cpu_seconds']:.1f} s)")
    shutil.rmtree(work, ignore_errors=True)

    p50 = median([r["seconds"] for r in pipeline])
    r50 = median([r["seconds"] for r in raw])
    p_cpu = median([r["cpu_seconds"] for r in pipeline])
    r_cpu = median([r["cpu_seconds"] for r in raw])
    stage_p50 = {s: median([r["timings"].get(s, 0.0) for r in pipeline]) for s in STAGES}
    rows = pipeline[0]["rows"]
    table = md_table(
        [
            "method",
            "runs (s)",
            "median (s)",
            "MB/s",
            "CPU median (s)",
            "Parquet MB",
            "load (1/5/15) at end of each run",
        ],
        [
            [
                "`ingest_csv` (all stages)",
                ", ".join(f"{r['seconds']:.1f}" for r in pipeline),
                f"{p50:.1f}",
                f"{mb / p50:.1f}",
                f"{p_cpu:.1f}",
                f"{pipeline[0]['parquet_bytes'] / 1e6:.0f}",
                "; ".join(r["load"] for r in pipeline),
            ],
            [
                "DuckDB `COPY ... TO parquet`",
                ", ".join(f"{r['seconds']:.1f}" for r in raw),
                f"{r50:.1f}",
                f"{mb / r50:.1f}",
                f"{r_cpu:.1f}",
                f"{raw[0]['parquet_bytes'] / 1e6:.0f}",
                "; ".join(r["load"] for r in raw),
            ],
        ],
    )
    stages = md_table(
        ["stage", "median (s)", "share of total", "MB/s of this stage alone"],
        [
            [s, f"{stage_p50[s]:.2f}", f"{stage_p50[s] / p50:.0%}", f"{mb / stage_p50[s]:.0f}" if stage_p50[s] else "-"]
            for s in STAGES
        ],
    )
    print(
        f"\nCSV: {mb:.0f} MB, {rows:,} rows; ratio pipeline/raw throughput = {r50 / p50:.2f} "
        f"(CPU seconds: {r_cpu / p_cpu:.2f})\n"
    )
    print(table + "\n\n" + stages)
    path = result_save(
        "ingest",
        {
            "machine": machine_facts(),
            "csv": str(csv),
            "csv_mb": mb,
            "rows": rows,
            "pipeline": pipeline,
            "raw": raw,
            "pipeline_median_s": p50,
            "raw_median_s": r50,
            "ratio": r50 / p50,
            "pipeline_cpu_median_s": p_cpu,
            "raw_cpu_median_s": r_cpu,
            "cpu_ratio": r_cpu / p_cpu,
            "threads": args.threads,
            "memory_limit": args.memory_limit,
            "stage_median_s": stage_p50,
        },
    )
    print(f"\nresults: {path.relative_to(ROOT)}")
    if args.clean:
        csv.unlink()


def _fmt(timings: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.1f}" for k, v in timings.items())


if __name__ == "__main__":
    main()
