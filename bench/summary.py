"""Summarise the JSON results in ``bench/data/results/`` as the Markdown tables of docs/performance.md.

Usage::

    .venv/bin/python bench/summary.py [--since 20261129-0520] [--all]

For counts, one table with the p50 (and p95) of the main methods per study size, one column per run; ``--since``
keeps only result files stamped at or after that time (``YYYYMMDD-HHMM``), ``--all`` lists every run (default: the
runs since ``--since``, or the latest run per size).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from common import RESULTS, md_table

MAIN = (
    "raw DuckDB, Parquet, warm connection",
    "raw DuckDB, Parquet, new connection per call",
    "raw DuckDB, warm, site test with translate() (compiler before 4c48703)",
    "compiled count SQL as is, on a warm engine (views registered once)",
    "compiled count SQL, TRANSLATE -> regexp_replace, warm engine",
    "BDT's way: read_csv_auto over the CSVs, every call",
    "in-process query_count, cache miss",
    "in-process query_count, cache hit",
    "HTTP POST /count, cache miss (distinct equivalent specs)",
    "HTTP POST /count, cache hit (identical spec)",
    "HTTP floor: GET /api/v1/health (no tenant, no auth)",
    "HTTP floor: GET /api/v1/me (tenant + token auth)",
)


ALIASES = {  # earlier names of the same series
    "raw DuckDB, warm, site test with translate() as the compiler does": (
        "raw DuckDB, warm, site test with translate() (compiler before 4c48703)"
    ),
}


def _stamp(path: Path) -> str:
    return path.stem.rsplit("-", 2)[-2] + "-" + path.stem.rsplit("-", 1)[-1]


def _load(pattern: str, since: str | None) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(RESULTS.glob(pattern)):
        if since and _stamp(path) < since:
            continue
        run = json.loads(path.read_text())
        for key in ("p50_ms", "p95_ms"):
            if key in run:
                run[key] = {ALIASES.get(name, name): value for name, value in run[key].items()}
        found.append((path, run))
    return found


def counts(since: str | None, every: bool) -> None:
    runs = _load("counts-p*.json", since)
    runs = [(p, r) for p, r in runs if "p50_ms" in r]  # interleaved format only
    if not every and not since:
        latest: dict[int, tuple[Path, dict[str, Any]]] = {}
        for path, run in runs:
            latest[run["participants"]] = (path, run)
        runs = [latest[n] for n in sorted(latest)]
    runs.sort(key=lambda pr: (pr[1]["participants"], pr[0].name))
    headers = ["method"] + [
        f"{r['participants']:,} ({_stamp(p)[9:]}, load {r['load_1min']['median']:.1f})" for p, r in runs
    ]
    rows = []
    for name in MAIN:
        cells = []
        for _, r in runs:
            p50, p95 = r["p50_ms"].get(name), r["p95_ms"].get(name)
            cells.append("-" if p50 is None else f"{p50:.0f} / {p95:.0f}")
        if any(cell != "-" for cell in cells):
            rows.append([name, *cells])
    rows.append(["target: 1.5 x raw warm + 30 ms", *(f"{r['target_ms']:.0f}" for _, r in runs)])
    print("Counts, p50 / p95 in ms (participants, time, 1-min load):\n")
    print(md_table(headers, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--since", help="YYYYMMDD-HHMM: only results from then on")
    parser.add_argument("--all", action="store_true", help="every run, not just the latest per size")
    args = parser.parse_args()
    counts(args.since, args.all)


if __name__ == "__main__":
    main()
