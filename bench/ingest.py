"""Ingest throughput: ``datasets.ingest.ingest_csv`` (all stages) vs a plain DuckDB ``COPY ... TO parquet``.

Usage::

    .venv/bin/python bench/ingest.py [--size-mb 1000] [--repeats 3] [--clean]

Generates (once) ``bench/data/ingest-<size>mb.csv``: a longitudinal measure table (8-digit ids with leading
zeros, 4 sessions, numeric columns with fractions, a text column with quoted commas and quotes, 3-5 % missing
values). Then alternates, ``--repeats`` times each: the real pipeline (id + session key checks, profiling, typed
zstd Parquet, statistics) and ``COPY (SELECT * FROM read_csv(f, header=true)) TO x.parquet (FORMAT parquet,
COMPRESSION zstd)`` on a fresh DuckDB connection with default settings (the pipeline's defaults too: all cores,
default memory limit). Reports medians, MB/s (10^6 bytes of CSV per second), the ratio and the per-stage timings
``ingest_csv`` returns. Generated Parquet files are deleted after each run; the CSV is reused by later runs
unless ``--clean``.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from common import DATA, ROOT, env_apply, ingest_csv_file, load, machine_facts, md_table, median, result_save, say

STAGES = ("sniff", "parse", "validate", "types", "parquet", "stats")


def run_pipeline(csv: Path, work: Path) -> dict[str, Any]:
    from datasets.ingest import IngestOptions, ingest_csv

    options = IngestOptions(id_column="participant_id", session_column="session", max_bytes=2 * 1024**3)
    started = time.perf_counter()
    result = ingest_csv(csv, work_dir=work, options=options)
    seconds = time.perf_counter() - started
    size = result.parquet_path.stat().st_size
    result.parquet_path.unlink()
    return {"seconds": seconds, "timings": dict(result.timings), "rows": result.row_count, "parquet_bytes": size}


def run_raw_copy(csv: Path, work: Path) -> dict[str, Any]:
    import duckdb

    target = work / "raw.parquet"
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False})
    try:
        started = time.perf_counter()
        con.execute(
            f"COPY (SELECT * FROM read_csv('{csv}', header=true)) TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
        )
        seconds = time.perf_counter() - started
    finally:
        con.close()
    size = target.stat().st_size
    target.unlink()
    return {"seconds": seconds, "parquet_bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1000, help="CSV size to generate (10^6 bytes)")
    parser.add_argument("--repeats", type=int, default=3)
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
        pipeline.append({**run_pipeline(csv, work), "load": load()})
        say(f"  {pipeline[-1]['seconds']:.1f} s  stages {_fmt(pipeline[-1]['timings'])}")
        say(f"run {i + 1}/{args.repeats}: raw DuckDB COPY")
        raw.append({**run_raw_copy(csv, work), "load": load()})
        say(f"  {raw[-1]['seconds']:.1f} s")
    shutil.rmtree(work, ignore_errors=True)

    p50 = median([r["seconds"] for r in pipeline])
    r50 = median([r["seconds"] for r in raw])
    stage_p50 = {s: median([r["timings"].get(s, 0.0) for r in pipeline]) for s in STAGES}
    rows = pipeline[0]["rows"]
    table = md_table(
        ["method", "runs (s)", "median (s)", "MB/s", "Parquet MB", "load (1/5/15) at end of each run"],
        [
            [
                "`ingest_csv` (all stages)",
                ", ".join(f"{r['seconds']:.1f}" for r in pipeline),
                f"{p50:.1f}",
                f"{mb / p50:.1f}",
                f"{pipeline[0]['parquet_bytes'] / 1e6:.0f}",
                "; ".join(r["load"] for r in pipeline),
            ],
            [
                "DuckDB `COPY ... TO parquet`",
                ", ".join(f"{r['seconds']:.1f}" for r in raw),
                f"{r50:.1f}",
                f"{mb / r50:.1f}",
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
    print(f"\nCSV: {mb:.0f} MB, {rows:,} rows; ratio pipeline/raw throughput = {r50 / p50:.2f}\n")
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
