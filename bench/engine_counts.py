"""Counts and drop-offs on the query core at the issue's shape, without a database or a web server.

Usage::

    .venv/bin/python bench/engine_counts.py --participants 1000000 [--rounds 9] [--store]

Generates ``bench/data/engine/p<N>/`` once: a demographics table (N participants x 3 sessions: id with leading zeros,
session, age, sex, site) and 5 measure tables x 20 float columns (N x 3 rows each), as zstd Parquet. Then, in
interleaved rounds on one DuckDB engine (2 threads, 2 GB, as the platform's defaults):

* raw DuckDB on a warm connection: the same count written by hand over ``read_parquet`` views;
* ``DuckDBEngine.count`` of a 3-filter spec across 3 tables (every round a new lower bound that changes nothing,
  so nothing can be cached);
* ``DuckDBEngine.count`` of a 5-filter spec and ``DuckDBEngine.dropoff`` of the same spec (target: the drop-off
  below 1.5 x the count).

With ``--store``, the participant index store of the study's version set is built first (timed; once per set, in
``bench/data/engine/store-p<N>/``; the study allows the pre-joined layout) and a second engine reading it runs the
same count, count and drop-off in the same rounds (its answers must equal the Parquet engine's). ``--tables`` adds a
store built with one table per version (``store-tables-p<N>/``, the layout of studies that cannot be pre-joined)
and a third engine reading it.

Prints a markdown table (p50 / p95 in ms) with the load average, and saves the samples to bench/data/results/.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bdt_project.settings.test")

import duckdb  # noqa: E402
from common import load, machine_facts, md_table, percentile, result_save  # noqa: E402

from queries.core.catalog import ColumnInfo, DatasetInfo, StudyCatalog, StudyKeys  # noqa: E402
from queries.core.engines.duckdb_engine import DuckDBEngine  # noqa: E402
from queries.core.engines.participant_store import StoreLocation, store_build  # noqa: E402
from queries.core.spec import spec_validate  # noqa: E402

MEASURES = 5
COLUMNS = 20
SESSIONS = ("BAS1", "FU1", "FU2")


def generate(folder: Path, participants: int) -> dict[str, Path]:
    """The study's Parquet files (written once; a half-written file is never reused)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"demographics": folder / "demographics.parquet"}
    files.update({f"m{k}": folder / f"m{k}.parquet" for k in range(1, MEASURES + 1)})
    base = f"FROM range({participants}) t(i), (VALUES ('BAS1', 0), ('FU1', 1), ('FU2', 2)) v(s, sv) ORDER BY i, sv"
    pid = "lpad(CAST(i AS VARCHAR), 7, '0') AS participant_id, s AS session"
    selects = {
        "demographics": f"SELECT {pid}, 8 + (hash(i) % 770) / 10.0 + sv AS age, "
        f"CASE WHEN hash(i * 3) % 2 = 0 THEN 'F' ELSE 'M' END AS sex, "
        f"['Discovery', 'Discovery;Longitudinal_Adult', 'Neurofeedback', 'CBIC'][CAST(1 + hash(i * 7) % 4 AS BIGINT)]"
        f" AS site {base}"
    }
    for k in range(1, MEASURES + 1):
        cols = ", ".join(
            f"CASE WHEN hash(i * {97 + c} + sv * {k}) % 33 = 0 THEN NULL "
            f"ELSE round((hash(i * {k * 31 + c} + sv) % 100000) / 1000.0, 1) END AS v{c:02d}"
            for c in range(1, COLUMNS + 1)
        )
        selects[f"m{k}"] = f"SELECT {pid}, {cols} {base}"
    with duckdb.connect(config={"threads": 2, "memory_limit": "2GB"}) as con:
        for name, path in files.items():
            if not path.exists():
                part = path.with_name(path.name + ".part")
                print(f"generating {path}", flush=True)
                con.execute(f"COPY ({selects[name]}) TO '{part}' (FORMAT parquet, COMPRESSION zstd)")
                part.replace(path)
    return files


def catalog(files: dict[str, Path], participants: int) -> StudyCatalog:
    keys = (ColumnInfo("participant_id", "string"), ColumnInfo("session", "string"))
    datasets = {
        "demographics": DatasetInfo(
            "demographics",
            "demographics",
            1,
            f"bench-demo-{participants}",
            (*keys, ColumnInfo("age", "float"), ColumnInfo("sex", "string"), ColumnInfo("site", "string")),
            str(files["demographics"]),
            row_count=participants * 3,
        )
    }
    for k in range(1, MEASURES + 1):
        datasets[f"m{k}"] = DatasetInfo(
            f"m{k}",
            "measure",
            1,
            f"bench-m{k}-{participants}",
            (*keys, *(ColumnInfo(f"v{c:02d}", "float") for c in range(1, COLUMNS + 1))),
            str(files[f"m{k}"]),
            row_count=participants * 3,
        )
    return StudyCatalog(StudyKeys("participant_id", "session", age_column="age", sex_column="sex", site_column="site"),
                        "demographics", datasets)  # fmt: skip


def spec3(i: int) -> dict[str, Any]:
    """3 filters across 3 tables; ``i`` moves a bound where no value lies (values have 1 decimal)."""
    return {
        "filters": [
            {"dataset": "demographics", "column": "age", "op": "between", "value": [20, 60]},
            {"dataset": "m1", "column": "v03", "op": "between", "value": [10.05 + i * 1e-5, 80]},
            {"dataset": "m2", "column": "v07", "op": "gte", "value": 25},
        ]
    }


def spec5(i: int) -> dict[str, Any]:
    spec = spec3(i)
    spec["filters"] += [
        {"dataset": "m3", "column": "v11", "op": "lt", "value": 90},
        {"dataset": "demographics", "column": "sex", "op": "eq", "value": "F"},
    ]
    return spec


def raw_sql(files: dict[str, Path], lo: float) -> str:
    """The 3-filter count written by hand (what a DuckDB user would write)."""
    return (
        "SELECT COUNT(DISTINCT d.participant_id), COUNT(*) FROM (SELECT DISTINCT d.participant_id, d.session "
        f"FROM read_parquet('{files['demographics']}') d "
        f"JOIN read_parquet('{files['m1']}') a ON a.participant_id = d.participant_id AND a.session = d.session "
        f"JOIN read_parquet('{files['m2']}') b ON b.participant_id = d.participant_id AND b.session = d.session "
        f"WHERE d.age BETWEEN 20 AND 60 AND a.v03 BETWEEN {lo} AND 80 AND b.v07 >= 25) d"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--store", action="store_true", help="also count on the participant index store")
    parser.add_argument("--tables", action="store_true", help="with --store: also on a store of one table per version")
    args = parser.parse_args()
    if not 1_000 <= args.participants <= 10_000_000 or not 1 <= args.rounds <= 101:
        parser.error("participants 1,000..10,000,000; rounds 1..101")
    files = generate(ROOT / "bench" / "data" / "engine" / f"p{args.participants}", args.participants)
    cat = catalog(files, args.participants)
    kwargs: dict[str, Any] = {"memory_limit": "2GB", "threads": 2, "timeout_s": 600}
    samples: dict[str, list[float]] = {}
    loads: list[str] = []

    def timed(name: str, action: Any) -> Any:
        start = time.perf_counter()
        result = action()
        samples.setdefault(name, []).append((time.perf_counter() - start) * 1000)
        return result

    engine = DuckDBEngine(**kwargs)
    timed("first use (views registered)", lambda: engine.dropoff(spec_validate(spec5(0), cat), cat))
    stores: dict[str, DuckDBEngine] = {}
    layouts = (("store", True), ("tables store", False)) if args.tables else (("store", True),)
    for label, wide in layouts if args.store else ():
        folder = f"store-p{args.participants}" if wide else f"store-tables-p{args.participants}"
        directory = ROOT / "bench" / "data" / "engine" / folder
        path, wrote = timed(
            f"{label} build (once per version set)",
            lambda d=directory, w=wide: store_build(d, cat, memory_limit="2GB", threads=2, wide=w),
        )
        print(f"{label} {'built' if wrote else 'found'}: {path.stat().st_size / 1e6:.0f} MB, load {load()}", flush=True)
        stores[label] = stored = DuckDBEngine(**kwargs, store=StoreLocation(directory))
        timed(f"{label} first use (attached)", lambda stored=stored: stored.count(spec_validate(spec3(0), cat), cat))
        assert stored.index_used == path.stem
    raw = duckdb.connect(config={"threads": 2, "memory_limit": "2GB"})
    raw.execute(raw_sql(files, 10.05)).fetchall()
    for r in range(args.rounds + 1):
        i = r + 1
        record = r > 0  # round 0 warms up
        names: dict[str, Any] = {}
        for name, action in (
            (
                "raw DuckDB, 3 filters, warm connection",
                lambda i=i: raw.execute(raw_sql(files, 10.05 + i * 1e-5)).fetchall(),
            ),
            ("engine count, 3 filters", lambda i=i: engine.count(spec_validate(spec3(i), cat), cat)),
            ("engine count, 5 filters", lambda i=i: engine.count(spec_validate(spec5(i), cat), cat)),
            ("engine drop-off, 5 filters", lambda i=i: engine.dropoff(spec_validate(spec5(i), cat), cat)),
            *(
                item
                for label, stored in stores.items()
                for item in (
                    (f"{label} count, 3 filters", lambda i=i, e=stored: e.count(spec_validate(spec3(i), cat), cat)),
                    (f"{label} count, 5 filters", lambda i=i, e=stored: e.count(spec_validate(spec5(i), cat), cat)),
                    (
                        f"{label} drop-off, 5 filters",
                        lambda i=i, e=stored: e.dropoff(spec_validate(spec5(i), cat), cat),
                    ),
                )
            ),
        ):
            start = time.perf_counter()
            names[name] = action()
            if record:
                samples.setdefault(name, []).append((time.perf_counter() - start) * 1000)
        raw_answer = names["raw DuckDB, 3 filters, warm connection"][0]
        counted = names["engine count, 3 filters"]
        assert (counted.participants, counted.rows) == tuple(raw_answer), (counted, raw_answer)
        assert names["engine drop-off, 5 filters"].total == names["engine count, 5 filters"]
        for label, stored in stores.items():
            assert stored.index_used is not None
            for what in ("count, 3 filters", "count, 5 filters", "drop-off, 5 filters"):
                assert names[f"{label} {what}"] == names[f"engine {what}"], (label, what)
        loads.append(load())
    engine.close()
    for stored in stores.values():
        stored.close()
    rows = [
        [name, f"{percentile(values, 50):.1f}", f"{percentile(values, 95):.1f}", str(len(values))]
        for name, values in samples.items()
    ]
    ratio = percentile(samples["engine drop-off, 5 filters"], 50) / percentile(samples["engine count, 5 filters"], 50)
    print(f"\n{args.participants:,} participants x 3 sessions, {MEASURES} measures x {COLUMNS} columns; "
          f"load {loads[0]} .. {loads[-1]}; {machine_facts()}\n")  # fmt: skip
    print(md_table(["what", "p50 ms", "p95 ms", "n"], rows))
    print(f"\ndrop-off / count (5 filters), p50: {ratio:.2f}")
    for label in stores:
        for what in ("count, 3 filters", "count, 5 filters", "drop-off, 5 filters"):
            speed = percentile(samples[f"engine {what}"], 50) / percentile(samples[f"{label} {what}"], 50)
            print(f"Parquet views / {label}, {what}, p50: {speed:.2f}x")
        store_ratio = percentile(samples[f"{label} drop-off, 5 filters"], 50) / percentile(
            samples[f"{label} count, 5 filters"], 50
        )
        print(f"{label} drop-off / {label} count (5 filters), p50: {store_ratio:.2f}")
    result_save(
        f"engine-counts-p{args.participants}{'-store' if args.store else ''}",
        {"participants": args.participants, "samples": samples, "loads": loads, "machine": machine_facts()},
    )


if __name__ == "__main__":
    main()
