"""Rows added, removed and changed between two versions of a table (two Parquet files), by key when possible."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
from sqlglot import exp


def _columns(names: Sequence[str]) -> list[exp.Expression]:
    """Column references, always quoted: column names are data, never SQL."""
    return [exp.column(name, quoted=True) for name in names] or [exp.Literal.number(1)]


def _rows(names: Sequence[str], table: str) -> exp.Select:
    return exp.select(*_columns(names)).from_(exp.to_table(table))


def _count(con: duckdb.DuckDBPyConnection, query: exp.Query) -> int:
    counted = exp.select(exp.Count(this=exp.Star())).from_(query.subquery("d"))
    row = con.execute(counted.sql(dialect="duckdb")).fetchone()
    return int(row[0]) if row else 0


def row_diff(old: Path, new: Path, keys: Sequence[str], *, memory_limit: str = "256MB") -> dict[str, int | list[str]]:
    """``{"rows_added", "rows_removed", "rows_changed", "keys"}`` (``keys`` empty: rows compared whole, a changed
    row then counts as one removed and one added). Queries are sqlglot trees with quoted identifiers."""
    con = duckdb.connect(":memory:", config={"memory_limit": memory_limit, "threads": 1})
    try:
        con.read_parquet(str(old)).create_view("old_rows")
        con.read_parquet(str(new)).create_view("new_rows")
        old_columns = [row[0] for row in con.execute("DESCRIBE old_rows").fetchall()]
        new_columns = [row[0] for row in con.execute("DESCRIBE new_rows").fetchall()]
        common = [name for name in new_columns if name in old_columns]
        usable = [key for key in keys if key and key in common]
        if not usable:
            added = _count(con, exp.except_(_rows(common, "new_rows"), _rows(common, "old_rows"), distinct=False))
            removed = _count(con, exp.except_(_rows(common, "old_rows"), _rows(common, "new_rows"), distinct=False))
            return {"rows_added": added, "rows_removed": removed, "rows_changed": 0, "keys": []}
        added = _count(con, exp.except_(_rows(usable, "new_rows"), _rows(usable, "old_rows")))
        removed = _count(con, exp.except_(_rows(usable, "old_rows"), _rows(usable, "new_rows")))
        differing = exp.except_(_rows(common, "new_rows"), _rows(common, "old_rows")).subquery("differing")
        changed_keys = exp.select(*_columns(usable)).distinct().from_(differing)
        changed = _count(con, exp.intersect(changed_keys, _rows(usable, "old_rows")))
        return {"rows_added": added, "rows_removed": removed, "rows_changed": changed, "keys": usable}
    finally:
        con.close()


def schema_drift(before: Sequence[Sequence[str]], now: Sequence[Sequence[str]]) -> dict[str, object]:
    """Columns added, removed or retyped at the source since the last pull (``{}`` when none, or no last pull)."""
    if not before:
        return {}
    old = {str(name): str(type_) for name, type_ in before}
    new = {str(name): str(type_) for name, type_ in now}
    added = [name for name in new if name not in old]
    removed = [name for name in old if name not in new]
    retyped = [
        {"name": name, "from": old[name], "to": new[name]} for name in new if name in old and old[name] != new[name]
    ]
    if not (added or removed or retyped):
        return {}
    return {"added": added, "removed": removed, "retyped": retyped, "columns": [[n, t] for n, t in new.items()]}
