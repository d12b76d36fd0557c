"""Contingency table of two columns (exact counts, with a chi-square test of independence)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from analysis.stats.errors import StatsError
from analysis.stats.groups import label
from analysis.stats.numbers import num

MISSING = "(missing)"


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return label(value)


def crosstab(
    pairs: Sequence[tuple[Any, Any, int]],
    *,
    row_name: str,
    column_name: str,
    max_levels: int,
) -> dict[str, Any]:
    """A contingency table from (row value, column value, count) triples; missing values are their own level.
    A chi-square test of independence over the non-missing levels is included. (Aggregate-only callers get the
    cell-key method's table instead: ``analysis.crosstab_protection``.)"""
    counts: Counter[tuple[str, str]] = Counter()
    for r, c, n in pairs:
        counts[(_text(r), _text(c))] += n
    if not counts:
        raise StatsError("too_few_rows", "The result has no rows.")
    row_levels = sorted({r for r, _ in counts}, key=level_order)
    column_levels = sorted({c for _, c in counts}, key=level_order)
    for name, levels in ((row_name, row_levels), (column_name, column_levels)):
        if len(levels) > max_levels:
            raise StatsError(
                "too_many_groups",
                f"Column {name!r} has {len(levels)} distinct values; a table can show at most {max_levels}.",
                {"column": name, "groups": len(levels), "maximum": max_levels},
            )
    table = [[counts.get((r, c), 0) for c in column_levels] for r in row_levels]
    result: dict[str, Any] = {
        "row": row_name,
        "column": column_name,
        "row_levels": row_levels,
        "column_levels": column_levels,
        "counts": table,
        "row_totals": [sum(line) for line in table],
        "column_totals": [sum(line[j] for line in table) for j in range(len(column_levels))],
        "total": sum(sum(line) for line in table),
        "suppressed": False,
        "threshold": None,
    }
    keep_r = [i for i, r in enumerate(row_levels) if r != MISSING]
    keep_c = [j for j, c in enumerate(column_levels) if c != MISSING]
    observed = np.array([[table[i][j] for j in keep_c] for i in keep_r], dtype=np.float64).reshape(
        len(keep_r), len(keep_c)
    )
    observed = observed[observed.sum(axis=1) > 0][:, observed.sum(axis=0) > 0]
    if min(observed.shape) >= 2:
        chi2, p, dof, _ = stats.chi2_contingency(observed, correction=False)
        result["chi2"] = {"statistic": num(chi2), "p": num(p), "df": int(dof)}
    return result


def level_order(text: str) -> tuple[int, float, str]:
    """Sort key of level labels: numbers by value, then text, then the missing level."""
    if text == MISSING:
        return (3, 0.0, text)
    if text == "(other values)":
        return (2, 0.0, text)
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)
