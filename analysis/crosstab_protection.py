"""Crosstabs for aggregate-only callers: every cell, margin and the total a cell of the cell-key method.

Counted in DuckDB over the run's result joined to its participants' record keys (``queries.result_cells``): per
cell the rows (what the table shows) and the distinct participants (what suppression is decided on). Levels that
fewer than k participants hold are not named: they are counted together as "(other values)". Then
``access.disclosure.protect_table`` perturbs every cell on its own and applies primary and complementary
suppression over the rows, the columns and both margins. No test statistic is reported (it would be computed from
the exact cells). The crosstab is charged as one question against the caller's count budget.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from django.http import HttpRequest

from access.budget import count_budget_charge, crosstab_questions
from access.disclosure import EMPTY, Cell, crosstab_lines, protect_cell, protect_table
from access.protection import disclosure_rules, protection_fields
from analysis.stats import StatsError
from analysis.stats.crosstab import MISSING, level_order
from analysis.stats.groups import label
from core.errors import Conflict
from queries.models import QueryRun
from queries.result_cells import OTHER, result_cells, run_record_keys
from queries.results import run_result_path
from tenants.models import Tenant

OTHER_LABEL = "(other values)"


def _text(value: Any) -> str:
    if value is OTHER or value == OTHER:
        return OTHER_LABEL
    if value is None or (isinstance(value, float) and value != value):
        return MISSING
    return label(value)


def _levels(name: str, shown: int, max_levels: int) -> None:
    """Refuse a table with more than ``max_levels`` levels of ``name`` as shown (each named level held by at least
    k participants, the others as one): the refusal says no exact number of distinct values."""
    if shown > max_levels:
        raise StatsError(
            "too_many_groups",
            f"Column {name!r} has more than {max_levels} values held by enough participants to be shown; a table can "
            f"show at most {max_levels}.",
            {"column": name, "maximum": max_levels},
        )


def crosstab_protected(
    *,
    tenant: Tenant,
    actor: Any,
    run: QueryRun,
    row: str,
    column: str,
    max_levels: int,
    request: HttpRequest | None = None,
) -> dict[str, Any]:
    """The crosstab of ``row`` x ``column`` of the run's result as an aggregate-only caller sees it."""
    for name in (row, column):
        if name not in (run.columns or []):
            raise StatsError("unknown_column", f"{name!r} is not a column of this result.", {"column": name})
    keys = run_record_keys(run)
    id_column = run.study.id_column
    if keys is None or id_column not in (run.columns or []):
        raise Conflict(
            "This result has no participant ids, so it cannot be tabulated for aggregate-only access.",
            code="not_tabulable",
        )
    rules = disclosure_rules(tenant=tenant, study=run.study)
    path = run_result_path(run)
    rare: dict[str, list[Any]] = {}
    for name in dict.fromkeys((row, column)):
        margins = [(values[0], cell) for values, cell in result_cells(path, keys, id_column, [name])]
        rare[name] = [value for value, cell in margins if value is not None and protect_cell(cell, rules).suppressed]
        _levels(name, len(margins) - len(rare[name]) + (1 if rare[name] else 0), max_levels)
    pairs = result_cells(path, keys, id_column, [row, column], merge=rare)
    row_cells = {_text(v[0]): cell for v, cell in result_cells(path, keys, id_column, [row], merge=rare)}
    column_cells = {_text(v[0]): cell for v, cell in result_cells(path, keys, id_column, [column], merge=rare)}
    total = result_cells(path, keys, id_column)
    row_levels = sorted(row_cells, key=level_order)
    column_levels = sorted(column_cells, key=level_order)
    cells: dict[Hashable, Cell] = {("cell", r, c): EMPTY for r in row_levels for c in column_levels}
    cells.update({("cell", _text(v[0]), _text(v[1])): cell for v, cell in pairs})
    cells.update({("row", r): cell for r, cell in row_cells.items()})
    cells.update({("column", c): cell for c, cell in column_cells.items()})
    cells[("total",)] = total[0][1] if total else EMPTY
    count_budget_charge(
        tenant=tenant,
        actor=actor,
        study=run.study,
        questions=crosstab_questions(run.cache_key, row, column),
        surface="crosstab",
        spec_hash=run.spec_hash,
        spec={"run": run.pk, "row": row, "column": column},
        request=request,
    )
    shown = protect_table(cells, crosstab_lines(row_levels, column_levels), rules)
    grand = shown[("total",)].rows
    return {
        "kind": "crosstab",
        "row": row,
        "column": column,
        "row_levels": row_levels,
        "column_levels": column_levels,
        "counts": [[shown[("cell", r, c)].rows for c in column_levels] for r in row_levels],
        "row_totals": [shown[("row", r)].rows for r in row_levels],
        "column_totals": [shown[("column", c)].rows for c in column_levels],
        "total": grand,
        "suppressed": True,
        **protection_fields(rules),
        "sample": {"rows": grand, "used": grand, "sampled": False},
    }
