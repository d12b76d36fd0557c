"""What-if (docs/performance.md §14): the same compiled counts and drop-off on native DuckDB tables joined on a dense
integer participant index and session code, against the engine's Parquet views.

Usage::

    .venv/bin/python bench/what_if_int_keys.py 100000 [rounds]

Uses the study of ``bench/engine_counts.py`` (generated there). Builds one DuckDB file per study
(``bench/data/engine/intkey_p<N>.duckdb``): a dictionary of the demographics ids (``pid``, dense, in id order) and
sessions (``sid``), and every table as a native table with ``pid`` and ``sid`` added. The project's compiled SQL is
run as is on the Parquet views, and with its join conditions and merge keys rewritten to ``pid`` / ``sid`` on the
native tables (a regular-expression rewrite: a measurement, not how the engine would do it). Both answers must be
equal. Not part of the platform.
"""

import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bdt_project.settings.test")
import duckdb
from engine_counts import catalog, generate, spec3, spec5

from queries.core.catalog import physical_table_name
from queries.core.compiler import compile_count
from queries.core.compiler.dropoff import compile_dropoff
from queries.core.engines.duckdb_engine import DuckDBEngine
from queries.core.spec import spec_validate

N = int(sys.argv[1])
R = int(sys.argv[2]) if len(sys.argv) > 2 else 5
DATA = Path(__file__).resolve().parent / "data" / "engine"
files = generate(DATA / f"p{N}", N)
cat = catalog(files, N)
e = DuckDBEngine(memory_limit="2GB", threads=2, timeout_s=600)
v = spec_validate(spec5(1), cat)
e.dropoff(v, cat)
con = e._con
store = DATA / f"intkey_p{N}.duckdb"
t0 = time.perf_counter()
w = duckdb.connect(str(store), config={"threads": 2, "memory_limit": "2GB"})
demo = cat.datasets["demographics"]
have = {r[0] for r in w.execute("SELECT table_name FROM information_schema.tables").fetchall()}
if "ids" not in have:
    w.execute(
        "CREATE TABLE ids AS SELECT participant_id AS id, "
        "(ROW_NUMBER() OVER (ORDER BY participant_id))::INTEGER AS pid "
        f"FROM (SELECT DISTINCT participant_id FROM read_parquet('{demo.parquet_path}'))"
    )
    w.execute(
        "CREATE TABLE ses AS SELECT session AS s, (ROW_NUMBER() OVER (ORDER BY session))::SMALLINT AS sid "
        f"FROM (SELECT DISTINCT session FROM read_parquet('{demo.parquet_path}'))"
    )
    for name, ds in cat.datasets.items():
        w.execute(
            f"CREATE TABLE \"{name}\" AS SELECT i.pid, s.sid, t.* FROM read_parquet('{ds.parquet_path}') t "
            "JOIN ids i ON i.id = t.participant_id JOIN ses s ON s.s = t.session ORDER BY i.pid, s.sid"
        )
w.close()
print(f"build (once per version set) {time.perf_counter() - t0:.1f} s")
n = duckdb.connect(":memory:", config={"threads": 2, "memory_limit": "2GB"})
n.execute(f"ATTACH '{store}' AS st (READ_ONLY)")
for name, ds in cat.datasets.items():
    view = physical_table_name(ds)
    cols = ", ".join(
        f'CAST("{c.name}" AS {"DOUBLE" if c.type == "float" else "VARCHAR"}) AS "c{i}"'
        for i, c in enumerate(ds.columns)
    )
    n.execute(f'CREATE VIEW "{view}" AS SELECT pid, sid, {cols}, rowid AS "__row" FROM st.main."{name}"')


def rewrite(sql):
    sql = re.sub(r'"d0"\."c0" = "(d\d)"\."c0"', r'"d0"."pid" = "\1"."pid"', sql)
    sql = re.sub(r'"d0"\."c1" = "(d\d)"\."c1"', r'"d0"."sid" = "\1"."sid"', sql)
    sql = sql.replace('"d0"."c0" AS "k_id", "d0"."c1" AS "k_ses"', '"d0"."pid" AS "k_id", "d0"."sid" AS "k_ses"')
    return sql


def t(c, name, sql, k=R):
    ts = []
    for _ in range(k):
        s = time.perf_counter()
        r = c.execute(sql).fetchall()
        ts.append((time.perf_counter() - s) * 1000)
    print(f"{name:44s} p50 {sorted(ts)[len(ts) // 2]:.0f} ms", flush=True)
    return r


for label, spec in (("3 filters", spec3(1)), ("5 filters", spec5(1))):
    vv = spec_validate(spec, cat)
    c = compile_count(vv, cat, "duckdb")
    a = t(con, f"Parquet views, count {label}", c)
    b = t(n, f"native int-keyed, count {label}", rewrite(c))
    assert a == b, (a, b)
d = compile_dropoff(v, cat, "duckdb").sql
a = t(con, "Parquet views, drop-off 5", d)
b = t(n, "native int-keyed, drop-off 5", rewrite(d))
assert a == b
print("load", os.getloadavg())
