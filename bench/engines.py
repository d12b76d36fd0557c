"""The same count, filtering report and run on DuckDB, PostgreSQL and Spark (local mode), at 1M and 10M rows.

A generated cross-sectional study: demographics (N rows: id, age, sex, site) and one measure table (N rows: id and
four scores), both Parquet files as ingest writes them. Each engine runs in a fresh subprocess under ``RLIMIT_AS``
(``--ceiling``, inherited by Spark's JVM) with the platform's default budget: DuckDB 2 GB / 2 threads, PostgreSQL
``work_mem`` 64 MB, Spark ``local[2]`` with a 1 GB driver and 4 shuffle partitions. Per engine and size:

* **first use**: what the engine does once per dataset version (DuckDB and Spark: register views; PostgreSQL:
  load the tables with COPY, index, analyse) plus, for Spark, starting the session (JVM);
* **count** and **report** (filtering report, 3 steps): median of ``--repeats`` (3) after one warm-up;
* **run**: the long result of the filtered join (about a fifth of the rows, 8 columns) written to Parquet,
  median of ``--repeats`` - 1 (at least one; no warm-up when ``--repeats 1``);
* peak resident memory of the engine process and its children (Spark's JVM), sampled every 50 ms.

    .venv/bin/python bench/engines.py                       # 1M rows
    .venv/bin/python bench/engines.py --rows 10000000 --repeats 1
    .venv/bin/python bench/engines.py --engines duckdb spark --rows 1000000

PostgreSQL: a database of the bench's own (``bdt_bench_engines`` on 127.0.0.1:5432, or ``BDT_BENCH_ENGINES_DB``;
created and dropped here).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, load, machine_facts, md_table, result_save, say

DATA = ROOT / "bench" / "data" / "engines"
CEILING = 12_000_000_000  # address space of every case (the JVM reserves far more than it touches)
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PG_DB = os.environ.get("BDT_BENCH_ENGINES_DB", "bdt_bench_engines")  # several people benchmarking: one each
ENGINES = ("duckdb", "postgres", "spark")

CHILD = r"""
import json, os, resource, statistics, sys, threading, time
engine_name, folder, rows, ceiling, dsn, repeats = sys.argv[1:7]
rows, ceiling, repeats = int(rows), int(ceiling), int(repeats)
resource.setrlimit(resource.RLIMIT_AS, (ceiling, resource.RLIM_INFINITY))
from queries.core.catalog import ColumnInfo, DatasetInfo, StudyCatalog, StudyKeys
from queries.core.spec import spec_validate
import pyarrow.parquet as pq

PAGE = os.sysconf("SC_PAGE_SIZE")
def tree_rss(pid):
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += int(open(f"/proc/{p}/statm").read().split()[1]) * PAGE
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in open(f"/proc/{p}/task/{task}/children").read().split()]
        except (OSError, ValueError):
            pass
    return total
peak = {"rss": 0}
def watch():
    while True:
        peak["rss"] = max(peak["rss"], tree_rss(os.getpid()))
        time.sleep(0.05)
threading.Thread(target=watch, daemon=True).start()

demo = DatasetInfo("demo", "demographics", 1, f"d{rows}", (ColumnInfo("pid", "string"), ColumnInfo("age", "float"),
    ColumnInfo("sex", "integer"), ColumnInfo("site", "string")), f"{folder}/demo_{rows}.parquet")
scores = DatasetInfo("scores", "measure", 1, f"s{rows}", (ColumnInfo("pid", "string"), ColumnInfo("s1", "float"),
    ColumnInfo("s2", "float"), ColumnInfo("s3", "float"), ColumnInfo("s4", "integer")),
    f"{folder}/scores_{rows}.parquet")
catalog = StudyCatalog(StudyKeys("pid", site_column="site"), "demo", {"demo": demo, "scores": scores})
filters = [
    {"dataset": "demo", "column": "age", "op": "between", "value": [30, 70]},
    {"dataset": "scores", "column": "s1", "op": "gt", "value": 0.4},
    {"dataset": "scores", "column": "s4", "op": "lt", "value": 60},
]
count_spec = spec_validate({"filters": filters}, catalog)
run_spec = spec_validate({"filters": filters, "columns": {"scores": ["s1", "s2", "s3", "s4"]}}, catalog)

started = time.monotonic()
if engine_name == "duckdb":
    from queries.core.engines.duckdb_engine import DuckDBEngine
    engine = DuckDBEngine(memory_limit="2GB", threads=2, timeout_s=3600, temp_directory=f"{folder}/spill")
    engine._prepare(catalog, [demo, scores])
elif engine_name == "postgres":
    from queries.core.engines.postgres_engine import PostgresEngine
    engine = PostgresEngine(dsn, schema="bench", timeout_s=3600, work_mem="64MB")
    engine._prepare(catalog, [demo, scores])
else:
    from queries.core.engines.spark_engine import SparkEngine, SparkSettings
    settings = SparkSettings(driver_memory="1g", threads=2, shuffle_partitions=4, local_dir=f"{folder}/spill")
    engine = SparkEngine(settings, timeout_s=3600)
    engine._prepare(catalog, [demo, scores])
first_use = time.monotonic() - started

def timed(fn, repeats):
    for _ in range(1 if repeats > 1 else 0):  # a warm-up unless a single measurement was asked for
        fn()
    out = []
    for _ in range(repeats):
        t = time.monotonic(); fn(); out.append(time.monotonic() - t)
    return statistics.median(out)

result = {}
result["count"] = timed(lambda: engine.count(count_spec, catalog), repeats)
counted = engine.count(count_spec, catalog)
result["report"] = timed(lambda: engine.steps(count_spec, catalog), repeats)
out = f"{folder}/out_{engine_name}.parquet"
result["run"] = timed(lambda: engine.run(run_spec, catalog, out), max(1, repeats - 1))
result["run_rows"] = pq.ParquetFile(out).metadata.num_rows
os.unlink(out)
engine.close()
print(json.dumps({"first_use": first_use, "participants": counted.participants, "peak_rss": peak["rss"], **result}))
"""


def generate(rows: int) -> None:
    """The study's two Parquet files for ``rows`` participants (reused when present)."""
    import duckdb

    DATA.mkdir(parents=True, exist_ok=True)
    demo, scores = DATA / f"demo_{rows}.parquet", DATA / f"scores_{rows}.parquet"
    if demo.exists() and scores.exists():
        return
    say(f"generating {rows:,} rows")
    con = duckdb.connect(config={"memory_limit": "1GB", "threads": 2})
    con.execute(
        f"COPY (SELECT 'p' || lpad(i::VARCHAR, 9, '0') AS pid, (18 + (hash(i) % 70))::DOUBLE AS age, "
        f"(1 + hash(i * 7) % 2)::BIGINT AS sex, ['Discovery', 'Longitudinal_Adult', 'Neurofeedback'][1 + i % 3] "
        f"AS site FROM range({rows}) t(i) ORDER BY hash(i)) TO '{demo}' (FORMAT parquet, COMPRESSION zstd)"
    )
    con.execute(
        f"COPY (SELECT 'p' || lpad(i::VARCHAR, 9, '0') AS pid, (hash(i * 3) % 1000) / 1000.0 AS s1, "
        f"(hash(i * 5) % 1000) / 10.0 AS s2, (hash(i * 11) % 1000) / 100.0 AS s3, (hash(i * 13) % 100)::BIGINT "
        f"AS s4 FROM range({rows}) t(i)) TO '{scores}' (FORMAT parquet, COMPRESSION zstd)"
    )


def pg_database(create: bool) -> str:
    import psycopg
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        if create:
            admin.execute(f'CREATE DATABASE "{PG_DB}"')
    dsn = make_conninfo(PG_ADMIN, dbname=PG_DB)
    if create:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute('CREATE SCHEMA "bench"')
    return dsn


def case(engine: str, rows: int, dsn: str, ceiling: int, repeats: int) -> dict[str, Any]:
    before = load()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, engine, str(DATA), str(rows), str(ceiling), dsn, str(repeats)],
        cwd=ROOT, capture_output=True, text=True, timeout=3600, check=False,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"first_use"')]
    failure = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:120]
    result = json.loads(lines[-1]) if lines else {"outcome": f"exit {done.returncode}: {failure}"}
    return {"engine": engine, "rows": rows, "repeats": repeats, "load_before": before, "load_after": load(), **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--ceiling", type=int, default=CEILING, help="RLIMIT_AS of each case, bytes")
    parser.add_argument("--repeats", type=int, default=3, help="counts and reports measured (runs: one fewer)")
    options = parser.parse_args()
    results, table = [], []
    for rows in options.rows:
        generate(rows)
        dsn = pg_database(create=True) if "postgres" in options.engines else ""
        try:
            for engine in options.engines:
                say(f"{engine} at {rows:,} rows")
                r = case(engine, rows, dsn, options.ceiling, options.repeats)
                results.append(r)
                say(json.dumps(r))
                table.append([
                    f"{rows:,}", engine, f"{r.get('first_use', 0):.1f}", f"{r.get('count', 0):.2f}",
                    f"{r.get('report', 0):.2f}", f"{r.get('run', 0):.2f}", f"{r.get('run_rows', 0):,}",
                    f"{r.get('peak_rss', 0) / 1e6:,.0f}", r.get("outcome", "ok"),
                    f"{r['load_before']} / {r['load_after']}",
                ])  # fmt: skip
        finally:
            if dsn:
                pg_database(create=False)
    print(md_table(["rows", "engine", "first use s", "count s", "report s", "run s", "run rows", "peak RSS MB",
                    "outcome", "load before / after"], table))  # fmt: skip
    path = result_save("engines", {"machine": machine_facts(), "cases": results})
    say(f"results in {path}")


if __name__ == "__main__":
    main()
