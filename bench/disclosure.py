"""Cost of disclosure control (the cell-key method) on the query core, without a database or a web server.

Usage::

    .venv/bin/python bench/disclosure.py --participants 1000000 [--rounds 15]

Generates ``bench/data/disclosure/p<N>/`` (a longitudinal demographics table: N participants x 3 sessions, and a
measure), then measures in interleaved rounds on one DuckDB engine (threads and memory as the platform's defaults):

* building the record-key file of the demographics' ids (once per version and secret on a worker);
* ``count`` without record keys (exact callers before this change) and with them (every count now: + the cell keys);
* ``steps`` (the filtering report) with 3 filters, and with 1 + 199 no-op filters (the averaging attack's shape),
  without and with keys;
* the catalog cells of the demographics version below ``query`` (totals, missing counts and k-th extremes of every
  column, value cells of the categorical ones: ``access.catalog_cells``; computed once per version and cached);
* ``protect_cell`` lookups per second (the perturbation table).

Prints a markdown table (median / p95 in ms) for docs/performance.md with the machine's load average.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

from queries.core.spec import spec_validate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bdt_project.settings.test")

import duckdb  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from common import load, machine_facts, md_table, percentile  # noqa: E402

from access.disclosure import Cell, DisclosureRules, protect_cell, record_key_table  # noqa: E402
from queries.core.catalog import ColumnInfo, DatasetInfo, StudyCatalog, StudyKeys  # noqa: E402
from queries.core.engines.duckdb_engine import DuckDBEngine  # noqa: E402

SECRET = b"bench-disclosure-secret-0123456789abcdef"


def generate(folder: Path, participants: int) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    demo, measure = folder / "demographics.parquet", folder / "cognitive.parquet"
    if not demo.exists():
        with duckdb.connect() as con:
            con.execute(
                f"COPY (SELECT 'P' || lpad(CAST(i AS VARCHAR), 8, '0') AS participant_id, s AS session, "
                f"18 + (hash(i) % 70)::DOUBLE + 0.5 AS age, CASE WHEN hash(i) % 2 = 0 THEN 'F' ELSE 'M' END AS sex, "
                f"['A', 'B', 'C', 'D'][CAST(1 + hash(i * 7) % 4 AS BIGINT)] AS site "
                f"FROM range({participants}) t(i), (VALUES ('BAS1'), ('FU1'), ('FU2')) v(s)) "
                f"TO '{demo}' (FORMAT parquet)"
            )
            con.execute(
                f"COPY (SELECT 'P' || lpad(CAST(i AS VARCHAR), 8, '0') AS participant_id, s AS session, "
                f"(hash(i * 31 + length(s)) % 1000) / 10.0 AS score FROM range({participants}) t(i), "
                f"(VALUES ('BAS1'), ('FU1')) v(s)) TO '{measure}' (FORMAT parquet)"
            )
    return demo, measure


def catalogs(demo: Path, measure: Path, keys: Path) -> tuple[StudyCatalog, StudyCatalog]:
    demo_info = DatasetInfo(
        "demographics",
        "demographics",
        1,
        "bench-demo",
        tuple(
            ColumnInfo(n, t)
            for n, t in (
                ("participant_id", "string"),
                ("session", "string"),
                ("age", "float"),
                ("sex", "string"),
                ("site", "string"),
            )
        ),
        str(demo),
    )
    measure_info = DatasetInfo(
        "cognitive",
        "measure",
        1,
        "bench-cog",
        (ColumnInfo("participant_id", "string"), ColumnInfo("session", "string"), ColumnInfo("score", "float")),
        str(measure),
    )
    plain = StudyCatalog(
        StudyKeys("participant_id", "session", "age", "sex", "site"),
        "demographics",
        {"demographics": demo_info, "cognitive": measure_info},
    )
    key_info = DatasetInfo(
        "record_keys",
        "measure",
        1,
        "bench-keys",
        (ColumnInfo("participant_id", "string"), ColumnInfo("record_key", "integer")),
        str(keys),
    )
    return plain, dataclasses.replace(plain, record_keys=key_info)


def timed(samples: dict[str, list[float]], name: str, action: object) -> object:
    start = time.perf_counter()
    result = action()  # type: ignore[operator]
    samples.setdefault(name, []).append((time.perf_counter() - start) * 1000)
    return result


def catalog_cells(samples: dict[str, list[float]], demo: Path, keys: Path, *, rounds: int) -> None:
    """The catalog cells of the demographics version (what ``access.catalog_cells.version_cells`` computes)."""
    import django

    django.setup()
    from access.catalog_cells import _duck_names, _totals, _values
    from access.record_keys import RecordKeysFile

    key_file = RecordKeysFile(path=keys, digest="bench", id_column="participant_id", key_column="record_key")
    typed = [
        ("participant_id", "string"),
        ("session", "string"),
        ("age", "float"),
        ("sex", "string"),
        ("site", "string"),
    ]

    def compute() -> None:
        with duckdb.connect() as con:
            names = _duck_names(con, str(demo))
            _totals(con, str(demo), key_file, names["participant_id"], typed, 10)
            for column in ("session", "sex", "site"):
                _values(con, str(demo), key_file, names["participant_id"], column)

    for _ in range(rounds):
        timed(samples, "catalog cells of the version (once per version, cached)", compute)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    folder = ROOT / "bench" / "data" / "disclosure" / f"p{args.participants}"
    demo, measure = generate(folder, args.participants)
    samples: dict[str, list[float]] = {}
    keys = folder / "record_keys.parquet"
    for _ in range(3):
        ids = pq.read_table(demo, columns=["participant_id"]).column(0)
        timed(samples, "record-key file: build (once per version)", lambda ids=ids: pq.write_table(
            record_key_table(SECRET, ids, "participant_id"), keys))  # fmt: skip
    plain, keyed = catalogs(demo, measure, keys)
    engine = DuckDBEngine(memory_limit="2GB", threads=2, timeout_s=600)
    count_spec = {
        "sites": ["A", "C"],
        "sessions": ["BAS1", "FU1"],
        "filters": [
            {"dataset": "demographics", "column": "age", "op": "between", "value": [20, 60]},
            {"dataset": "cognitive", "column": "score", "op": "gte", "value": 30},
        ],
    }
    no_op = {"dataset": "demographics", "column": "age", "op": "between", "value": [0, 1000]}
    attack = {"filters": [count_spec["filters"][0]] + [no_op] * 199}
    engine.count(spec_validate(count_spec, keyed), keyed)  # warm-up: views registered
    engine.steps(spec_validate(count_spec, keyed), keyed)
    for _ in range(args.rounds):
        a = timed(samples, "count, exact (no keys)", lambda: engine.count(spec_validate(count_spec, plain), plain))
        b = timed(samples, "count with cell keys", lambda: engine.count(spec_validate(count_spec, keyed), keyed))
        assert (a.participants, a.rows) == (b.participants, b.rows)  # type: ignore[attr-defined]
        timed(samples, "report, 4 steps, no keys", lambda: engine.steps(spec_validate(count_spec, plain), plain))
        timed(samples, "report, 4 steps, with keys", lambda: engine.steps(spec_validate(count_spec, keyed), keyed))
    for _ in range(max(3, args.rounds // 5)):
        timed(samples, "report, 200 filters, no keys", lambda: engine.steps(spec_validate(attack, plain), plain))
        timed(samples, "report, 200 filters, with keys", lambda: engine.steps(spec_validate(attack, keyed), keyed))
    engine.close()
    catalog_cells(samples, demo, keys, rounds=max(3, args.rounds // 3))
    rules = DisclosureRules.build(threshold=10, max_noise=3, variance=2.0)
    cells = [Cell(1000 + i, 2000 + i, i * 2654435761, i * 40503) for i in range(100_000)]
    start = time.perf_counter()
    for cell in cells:
        protect_cell(cell, rules)
    per_second = len(cells) / (time.perf_counter() - start)
    rows = [
        [name, f"{percentile(values, 50):.1f}", f"{percentile(values, 95):.1f}", str(len(values))]
        for name, values in samples.items()
    ]
    print(f"\n{args.participants:,} participants x 3 sessions; load average {load()}; {machine_facts()}\n")
    print(md_table(["what", "p50 ms", "p95 ms", "n"], rows))
    print(f"\nprotect_cell: {per_second:,.0f} cells per second")


if __name__ == "__main__":
    main()
