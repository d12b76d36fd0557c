"""Cells of a run's result (disclosure control): the result's rows joined to their participants' record keys.

Aggregate-only callers see numbers about an existing run's result — its row count, the count of values per column,
crosstab cells — only as cells of the cell-key method: per group, the distinct participants, the rows and both cell
keys, computed in DuckDB over the result file and the record-key file of the run's pinned demographics version (the
keys are read from that local file: they never enter SQL text, the result or an export). A run's result rows are its
merge keys, so its total is the same set, with the same keys, as the live count of its spec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from django.core.cache import cache
from sqlglot import exp

from access.catalog_cells import present_cells
from access.disclosure import EMPTY, Cell
from access.record_keys import RecordKeysFile, record_keys_file
from core.parquet_reader import parquet_reader
from queries.core.compiler._sql import literal
from queries.models import QueryRun
from queries.results import run_result_path

CACHE_SECONDS = 24 * 3600
OTHER = "__other__"  # the group of values merged because each is too rare to be shown (see ``merge``)


def run_record_keys(run: QueryRun) -> RecordKeysFile | None:
    """The record keys of the run's pinned demographics version (None when the run pinned none)."""
    demographics = run.study.demographics_id
    if demographics is None:
        return None
    pin = run.pinned.select_related("version").filter(version__dataset_id=demographics).first()
    return record_keys_file(run.study, pin.version) if pin is not None else None


def _column(name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True))


def _group_expressions(by: Sequence[str], merge: Mapping[str, Sequence[Any]]) -> list[exp.Expr]:
    """Per grouped column: its value, or NULL plus a flag for the values merged into one group."""
    out: list[exp.Expr] = []
    for i, name in enumerate(by):
        rare = [value for value in merge.get(name, ()) if value is not None]
        if rare:
            is_rare = exp.In(this=_column(name), expressions=[literal(value) for value in rare])
            out.append(
                exp.alias_(exp.Case(ifs=[exp.If(this=is_rare, true=exp.null())], default=_column(name)), f"g{i}")
            )
            out.append(exp.alias_(exp.func("coalesce", is_rare, exp.false()), f"o{i}"))
        else:
            out.append(exp.alias_(_column(name), f"g{i}"))
            out.append(exp.alias_(exp.false(), f"o{i}"))
    return out


def result_cells(
    path: Path,
    keys: RecordKeysFile,
    id_column: str,
    by: Sequence[str] = (),
    *,
    not_null: str | None = None,
    merge: Mapping[str, Sequence[Any]] | None = None,
) -> list[tuple[tuple[Any, ...], Cell]]:
    """``[(group values, cell)]`` of the result at ``path`` grouped by the columns ``by`` (one group when empty).

    ``not_null``: count only rows where that column holds a value. ``merge``: per grouped column, values counted
    together as one group whose value is :data:`OTHER`."""
    groups = _group_expressions(by, merge or {})
    names = [f"g{i}" for i in range(len(by))] + [f"o{i}" for i in range(len(by))]
    group_refs = [exp.column(name) for name in names]
    per = (
        exp.select(*groups, exp.alias_(_column(id_column), "pid"), exp.alias_(exp.func("count", exp.Star()), "n"))
        .from_(exp.func("read_parquet", exp.Placeholder()))
        .where(exp.Not(this=exp.Is(this=_column(id_column), expression=exp.null())))
    )
    if not_null is not None:
        per = per.where(exp.Not(this=exp.Is(this=_column(not_null), expression=exp.null())))
    per = per.group_by(*[exp.column(f"g{i}") for i in range(len(by))], *[exp.column(f"o{i}") for i in range(len(by))])
    per = per.group_by(_column(id_column))
    key = exp.func("coalesce", exp.column("k", table="keys"), exp.Literal.number(0))
    outer = (
        exp.select(
            *[exp.column(f"g{i}", table="per") for i in range(len(by))],
            *[exp.column(f"o{i}", table="per") for i in range(len(by))],
            exp.alias_(exp.func("count", exp.Star()), "participants"),
            exp.alias_(exp.func("coalesce", exp.func("sum", exp.column("n", table="per")), 0), "rows"),
            exp.alias_(exp.func("coalesce", exp.func("sum", key), 0), "pkey"),
            exp.alias_(
                exp.func("coalesce", exp.func("sum", exp.Mul(this=key, expression=exp.column("n", table="per"))), 0),
                "rkey",
            ),
        )
        .from_(per.subquery(alias="per"))
        .join(
            exp.select(
                exp.alias_(exp.column(exp.to_identifier(keys.id_column, quoted=True)), "id"),
                exp.alias_(exp.column(exp.to_identifier(keys.key_column, quoted=True)), "k"),
            )
            .from_(exp.func("read_parquet", exp.Placeholder()))
            .subquery(alias="keys"),
            on=exp.EQ(
                this=exp.cast(exp.column("id", table="keys"), "VARCHAR"),
                expression=exp.cast(exp.column("pid", table="per"), "VARCHAR"),
            ),
            join_type="LEFT",
        )
    )
    if group_refs:
        outer = outer.group_by(*[exp.column(name, table="per") for name in names])
    with parquet_reader() as con:
        found = con.execute(outer.sql(dialect="duckdb", identify=True), [str(path), str(keys.path)]).fetchall()
    width = len(by)
    out: list[tuple[tuple[Any, ...], Cell]] = []
    for row in found:
        values = tuple(OTHER if row[width + i] else row[i] for i in range(width))
        participants, rows, pkey, rkey = (int(x) for x in row[2 * width :])
        out.append((values, Cell(participants=participants, rows=rows, participants_key=pkey, rows_key=rkey)))
    return out


def run_total_cell(run: QueryRun) -> Cell | None:
    """The cell of the whole result (its row count), or None when it cannot be keyed (no id column, no pins)."""
    id_column = run.study.id_column
    if run.row_count is None or id_column not in (run.columns or []):
        return None
    keys = run_record_keys(run)
    if keys is None:
        return None
    wanted = f"bdt:run-total:{run.result_sha256}:{keys.digest}"
    found = cache.get(wanted)
    if isinstance(found, dict):
        return Cell(**found)
    cells = result_cells(run_result_path(run), keys, id_column)
    cell = cells[0][1] if cells else EMPTY
    cache.set(wanted, dataclasses.asdict(cell), CACHE_SECONDS)
    return cell


def run_column_cells(run: QueryRun, columns: Sequence[str]) -> dict[str, Cell]:
    """Per column of the result: the cell of the rows holding a value in it (one scan for up to 100 columns)."""
    id_column = run.study.id_column
    keys = run_record_keys(run)
    if keys is None or id_column not in (run.columns or []):
        return {}
    wanted = [name for name in columns if name in (run.columns or [])]
    return present_cells(str(run_result_path(run)), keys, id_column, wanted)
