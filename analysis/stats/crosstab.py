"""Contingency table of two columns, with small-cell suppression for aggregate-only callers."""

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
    suppress_below: int | None = None,
) -> dict[str, Any]:
    """A contingency table from (row value, column value, count) triples; missing values are their own level.

    With ``suppress_below`` = k, every cell and margin below k (but above 0) is null and the table is marked
    suppressed; no test statistic is reported then (it could reveal the hidden cells). Otherwise a chi-square test
    of independence over the non-missing levels is included.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for r, c, n in pairs:
        counts[(_text(r), _text(c))] += n
    if not counts:
        raise StatsError("too_few_rows", "The result has no rows.")
    row_levels = sorted({r for r, _ in counts}, key=_order)
    column_levels = sorted({c for _, c in counts}, key=_order)
    for name, levels in ((row_name, row_levels), (column_name, column_levels)):
        if len(levels) > max_levels:
            raise StatsError(
                "too_many_groups",
                f"Column {name!r} has {len(levels)} distinct values; a table can show at most {max_levels}.",
                {"column": name, "groups": len(levels), "maximum": max_levels},
            )
    table = [[counts.get((r, c), 0) for c in column_levels] for r in row_levels]
    row_totals = [sum(line) for line in table]
    column_totals = [sum(line[j] for line in table) for j in range(len(column_levels))]
    total = sum(row_totals)

    def hide(value: int) -> int | None:
        if suppress_below is not None and 0 < value < suppress_below:
            return None
        return value

    result: dict[str, Any] = {
        "row": row_name,
        "column": column_name,
        "row_levels": row_levels,
        "column_levels": column_levels,
        "counts": [[hide(v) for v in line] for line in table],
        "row_totals": [hide(v) for v in row_totals],
        "column_totals": [hide(v) for v in column_totals],
        "total": hide(total),
        "suppressed": suppress_below is not None,
        "threshold": suppress_below,
    }
    if suppress_below is None:
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


def _order(text: str) -> tuple[int, float, str]:
    if text == MISSING:
        return (2, 0.0, text)
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)
