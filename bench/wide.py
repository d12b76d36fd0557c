"""Wide results and live reports within a budget (issue 11): time, peak resident memory and peak address space.

* **wide, engine**: ``DuckDBEngine.run`` of a wide spec over a generated study (participants x sessions x value
  columns), each case in a fresh subprocess under ``RLIMIT_AS`` (the worker's ceiling), with the worker's DuckDB
  settings (``--memory``, 2 threads). Peak RSS / address space are sampled every 50 ms.
* **wide, previous formulation**: the statement the compiler produced before issue 11 (one ordered
  ``ARRAY_AGG(...) FILTER (...)`` per output column) on the same data, for comparison; run only on sizes that
  cannot hurt the machine (it is stopped by the same ceiling).
* **report compile**: Python time to compile a filtering report of N steps (the SQL grows with N squared).

    .venv/bin/python bench/wide.py                 # default cases
    .venv/bin/python bench/wide.py --quick         # the incident case only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, load, machine_facts, md_table, result_save, say

DATA = ROOT / "bench" / "data" / "wide"
CEILING = 8_000_000_000  # address space (RLIMIT_AS) of every case
PREVIOUS_CEILING = 64_000_000_000  # the previous formulation maps ~74 MB per output column

CHILD = r"""
import json, resource, sys, threading, time
ceiling, folder, participants, sessions, values, memory, mode = sys.argv[1:8]
resource.setrlimit(resource.RLIMIT_AS, (int(ceiling), resource.RLIM_INFINITY))
import duckdb
from queries.core.catalog import ColumnInfo, DatasetInfo, StudyCatalog, StudyKeys
from queries.core.engines.duckdb_engine import DuckDBEngine
participants, sessions, values = int(participants), int(sessions), int(values)
data = f"{folder}/wide_{participants}_{sessions}_{values}.parquet"
con = duckdb.connect()
con.execute(
    "COPY (SELECT 'p' || lpad(p::VARCHAR, 7, '0') AS pid, 'S' || s::VARCHAR AS ses, "
    + ", ".join(f"random() AS v{i}" for i in range(values))
    + f" FROM range({participants}) a(p), range({sessions}) b(s)) TO '{data}'"
)
peak = {"rss": 0, "vm": 0}
def watch():
    while True:
        size, rss = open("/proc/self/statm").read().split()[:2]
        peak["rss"] = max(peak["rss"], int(rss) * 4096)
        peak["vm"] = max(peak["vm"], int(size) * 4096)
        time.sleep(0.05)
threading.Thread(target=watch, daemon=True).start()
started = time.monotonic()
outcome = "ok"
try:
    if mode == "previous":
        cols = []
        for i in range(values):
            for s in range(sessions):
                cols.append(
                    f'(ARRAY_AGG(v{i} ORDER BY ses, file_row_number) FILTER (WHERE ses IN (\'S{s}\') '
                    f'AND v{i} IS NOT NULL))[1] AS "v{i}_S{s}"'
                )
        c = duckdb.connect(config={"memory_limit": memory, "threads": 2})
        c.execute(
            f"COPY (SELECT pid, {', '.join(cols)} FROM read_parquet('{data}', file_row_number=true) "
            f"GROUP BY pid ORDER BY pid) TO '{folder}/previous.parquet' (FORMAT parquet)"
        )
        width = 1 + values * sessions
    else:
        columns = (ColumnInfo("pid", "string", distinct=participants), ColumnInfo("ses", "string", distinct=sessions))
        columns += tuple(ColumnInfo(f"v{i}", "float") for i in range(values))
        demo = DatasetInfo("demo", "demographics", 1, "x", columns, parquet_path=data)
        catalog = StudyCatalog(StudyKeys("pid", "ses"), "demo", {"demo": demo})
        engine = DuckDBEngine(memory_limit=memory, threads=2, timeout_s=3600, temp_directory=f"{folder}/spill")
        width = len(engine.run({"shape": "wide"}, catalog, f"{folder}/current.parquet").columns)
except Exception as exc:
    outcome = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
    width = 0
print(json.dumps({"seconds": time.monotonic() - started, "columns": width, "outcome": outcome, **peak}))
"""

CASES = [
    # participants, sessions, value columns, DuckDB memory, formulation (the previous one needs a ceiling far above
    # the worker's to finish at all, so its address space and resident growth can be seen)
    (10, 20, 8, "3000MB", "previous"),
    (10, 50, 8, "3000MB", "previous"),
    (10, 150, 8, "3000MB", "previous"),
    (10, 50, 8, "3000MB", "current"),
    (10, 150, 8, "3000MB", "current"),
    (10, 1237, 8, "3000MB", "current"),  # the incident: 9,897 output columns
    (100_000, 10, 20, "3000MB", "current"),
    (20_000, 50, 40, "1000MB", "current"),
]


def wide_case(participants: int, sessions: int, values: int, memory: str, mode: str) -> dict[str, Any]:
    DATA.mkdir(parents=True, exist_ok=True)
    ceiling = PREVIOUS_CEILING if mode == "previous" else CEILING
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(ceiling), str(DATA), str(participants), str(sessions), str(values), memory,
         mode],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    lines = [line[line.index('{"seconds"') :] for line in done.stdout.splitlines() if '{"seconds"' in line]
    failure = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:80]
    result = json.loads(lines[-1]) if lines else {"outcome": f"exit {done.returncode}: {failure}"}
    return {"participants": participants, "sessions": sessions, "values": values, "memory": memory, "mode": mode,
            "ceiling": ceiling, "load": load(), **result}  # fmt: skip


def report_compile(steps: int) -> float:
    from queries.core.catalog import ColumnInfo, DatasetInfo, StudyCatalog, StudyKeys
    from queries.core.compiler import compile_steps
    from queries.core.spec import spec_validate

    columns = (ColumnInfo("pid", "string"), ColumnInfo("age", "float"))
    catalog = StudyCatalog(StudyKeys("pid"), "demo", {"demo": DatasetInfo("demo", "demographics", 1, "x", columns)})
    spec = spec_validate(
        {"filters": [{"dataset": "demo", "column": "age", "op": "gt", "value": i} for i in range(steps)]}, catalog
    )
    started = time.perf_counter()
    compile_steps(spec_validate(spec, catalog), catalog, "duckdb")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the incident case only")
    options = parser.parse_args()
    cases = [c for c in CASES if c[1] == 1237] if options.quick else CASES
    rows, results = [], []
    for case in cases:
        say(f"wide {case}")
        result = wide_case(*case)
        results.append(result)
        rows.append([
            f"{case[0]:,} x {case[1]:,} x {case[2]}", case[4], case[3], f"{result.get('columns', 0):,}",
            f"{result.get('seconds', 0):.1f}", f"{result.get('rss', 0) / 1e6:,.0f}", f"{result.get('vm', 0) / 1e9:.1f}",
            result.get("outcome"), result["load"],
        ])  # fmt: skip
    compile_rows = []
    if not options.quick:
        for steps in (20, 50, 100, 200):
            say(f"report compile {steps}")
            compile_rows.append([steps, f"{report_compile(steps):.2f}", load()])
    print(md_table(["participants x sessions x values", "formulation", "DuckDB memory", "columns", "s", "peak RSS MB",
                    "peak address space GB", "outcome", "load"], rows))  # fmt: skip
    if compile_rows:
        print(md_table(["report steps", "compile s", "load"], compile_rows))
    path = result_save("wide", {"machine": machine_facts(), "wide": results, "report_compile": compile_rows})
    say(f"results in {path}")


if __name__ == "__main__":
    main()
