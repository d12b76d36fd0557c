"""Column statistics computed from the typed Parquet file.

Per column: missing, distinct (exact), min, max; mean and sample standard deviation for numeric columns plus an
equal-width histogram (``options.histogram_bins`` bins over [min, max]; integer columns with a small range get one
bin per value); ``top_values`` (most frequent values, ties by value) for string and boolean columns with at most
``options.top_values_max_distinct`` distinct values. Dates/timestamps are reported as ISO strings.

Each column's distinct values are counted once into a small temp table ``(k, v, n)`` from which every statistic
follows. Columns of one type are processed together: for a tall file a ``UNION ALL`` of per-column aggregations
(:data:`UNION_COLUMNS` at a time, each branch a cheap columnar scan), for a short, wide file (thousands of columns,
few rows) one ``UNPIVOT`` per type group, so neither the number of statements nor the SQL size explodes.
"""

# ruff: noqa: S608 - SQL text here only interpolates quote_ident() identifiers and module constants; values are parameters.

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.column_types import NUMERIC_TYPES, ColumnType, natural_sorted
from datasets.ingest.duck import DuckSession
from datasets.ingest.options import IngestOptions
from datasets.ingest.results import ColumnProfile, Histogram, JsonScalar, TopValue
from datasets.ingest.sql import ident_list, quote_ident

VALUES_PER_QUERY = 2_000_000
SHORT_FILE_ROWS = 10_000
UNION_COLUMNS = 16


GROUPS_TABLE = "ingest_value_counts"


@dataclass
class _Basic:
    count: int
    distinct: int
    min: Any
    max: Any
    mean: float | None = None
    std: float | None = None


def _chunks(names: list[str], row_count: int) -> list[list[str]]:
    size = max(1, VALUES_PER_QUERY // max(row_count, 1)) if row_count <= SHORT_FILE_ROWS else UNION_COLUMNS
    return [names[i : i + size] for i in range(0, len(names), size)]


def _count_values(session: DuckSession, parquet: Path, names: list[str], row_count: int) -> None:
    """(Re)create the temp table ``(k, v, n)``: each distinct non-missing value ``v`` of column ``k``, ``n`` times.

    Every statistic is then computed from this (usually much smaller) table: one scan of the Parquet file and one
    hash aggregation per column, the same work an exact ``count(DISTINCT)`` would need anyway.
    """
    params: dict[str, Any] = {"p": str(parquet)}
    if row_count <= SHORT_FILE_ROWS and len(names) > 1:
        select = (
            f"SELECT col_name AS k, col_value AS v, count(*) AS n FROM (UNPIVOT (SELECT {ident_list(names)} "
            "FROM read_parquet($p)) ON COLUMNS(*) INTO NAME col_name VALUE col_value) GROUP BY col_name, col_value"
        )
    else:
        branches = []
        for i, name in enumerate(names):
            params[f"k{i}"] = name
            branches.append(
                f"SELECT $k{i} AS k, v, count(*) AS n FROM (SELECT {quote_ident(name)} AS v FROM read_parquet($p)) "
                "WHERE v IS NOT NULL GROUP BY v"
            )
        select = " UNION ALL ".join(branches)
    session.fetchall(f"CREATE OR REPLACE TEMP TABLE {GROUPS_TABLE} AS {select}", params)


def _basic(session: DuckSession, numeric: bool) -> dict[str, _Basic]:
    """count, distinct, min, max (and mean, sample std for numeric columns) per column ``k`` of the groups table."""
    summary = f"SELECT k, sum(n) AS c, count(*) AS d, min(v) AS lo, max(v) AS hi FROM {GROUPS_TABLE} GROUP BY k"
    if not numeric:
        rows = session.fetchall(summary)
        return {str(k): _Basic(count=int(c), distinct=int(d), min=lo, max=hi) for k, c, d, lo, hi in rows}
    rows = session.fetchall(
        f"WITH m AS (SELECT k, sum(n) AS c, count(*) AS d, min(v) AS lo, max(v) AS hi, "
        f"sum(v::DOUBLE * n) / sum(n) AS mean FROM {GROUPS_TABLE} GROUP BY k) "
        "SELECT m.k, m.c, m.d, m.lo, m.hi, m.mean, "
        "sqrt(sum(g.n * (g.v::DOUBLE - m.mean) ^ 2) / nullif(m.c - 1, 0)) "
        f"FROM {GROUPS_TABLE} AS g JOIN m USING (k) GROUP BY m.k, m.c, m.d, m.lo, m.hi, m.mean"
    )
    return {
        str(k): _Basic(count=int(c), distinct=int(d), min=lo, max=hi, mean=_finite(mean), std=_finite(std))
        for k, c, d, lo, hi, mean, std in rows
    }


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _bins(column_type: ColumnType, lo: float, hi: float, bins: int) -> tuple[float, float, int]:
    """(first edge, width, bin count) of the histogram of a column with values in [lo, hi]."""
    if column_type == "integer" and hi - lo < bins:
        return lo - 0.5, 1.0, int(hi - lo) + 1
    if hi == lo:
        return lo, 0.0, 1
    return lo, (hi - lo) / bins, bins


def _edge(value: float) -> float:
    return float(f"{value:.12g}")


def _histograms(
    session: DuckSession, names: list[str], types: dict[str, ColumnType], basics: dict[str, _Basic], bins: int
) -> dict[str, Histogram]:
    plans = {}
    for name in names:
        b = basics.get(name)
        if b is not None and b.count:
            plans[name] = _bins(types[name], float(b.min), float(b.max), bins)
    if not plans:
        return {}
    bounds = [{"k": n, "lo": lo, "w": w or 1.0, "nb": nb} for n, (lo, w, nb) in plans.items()]
    sql = (
        "SELECT g.k, least(greatest(floor((g.v::DOUBLE - b.lo) / b.w), 0), b.nb - 1)::BIGINT AS bin, sum(g.n) "
        f"FROM {GROUPS_TABLE} AS g JOIN (SELECT unnest($bounds, recursive := true)) AS b ON b.k = g.k GROUP BY ALL"
    )
    counts: dict[str, list[int]] = {n: [0] * plan[2] for n, plan in plans.items()}
    for k, index, count in session.fetchall(sql, {"bounds": bounds}):
        counts[str(k)][int(index)] += int(count)
    out = {}
    for name, (lo, width, nb) in plans.items():
        if width:
            edges = [_edge(lo + width * i) for i in range(nb + 1)]
            if types[name] == "float":
                edges[0], edges[-1] = float(basics[name].min), float(basics[name].max)
        else:
            edges = [lo, lo]
        out[name] = Histogram(edges=edges, counts=counts[name])
    return out


def _top_values(session: DuckSession, names: list[str], limit: int) -> dict[str, list[TopValue]]:
    if not names:
        return {}
    sql = (
        f"SELECT k, v, n FROM {GROUPS_TABLE} WHERE list_contains($names, k) "
        "QUALIFY row_number() OVER (PARTITION BY k ORDER BY n DESC, v) <= $limit ORDER BY k, n DESC, v"
    )
    out: dict[str, list[TopValue]] = defaultdict(list)
    for k, v, n in session.fetchall(sql, {"names": names, "limit": limit}):
        out[str(k)].append(TopValue(value=_json(v), count=int(n)))
    return dict(out)


def _json(value: Any) -> JsonScalar:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def column_profiles(
    session: DuckSession,
    parquet: Path,
    header: list[str],
    types: dict[str, ColumnType],
    row_count: int,
    options: IngestOptions,
    on_progress: Callable[[float], None] | None = None,
) -> list[ColumnProfile]:
    """Statistics of every column of ``parquet`` (columns in ``header`` order)."""
    by_type: dict[ColumnType, list[str]] = defaultdict(list)
    for name in header:
        by_type[types[name]].append(name)
    basics: dict[str, _Basic] = {}
    histograms: dict[str, Histogram] = {}
    tops: dict[str, list[TopValue]] = {}
    work = [(t, chunk) for t, names in by_type.items() for chunk in _chunks(names, row_count)]
    for done, (column_type, chunk) in enumerate(work):
        numeric = column_type in NUMERIC_TYPES
        _count_values(session, parquet, chunk, row_count)
        chunk_basics = _basic(session, numeric)
        basics.update(chunk_basics)
        if numeric:
            histograms.update(_histograms(session, chunk, types, chunk_basics, options.histogram_bins))
        elif column_type in ("string", "boolean"):
            small = [n for n, b in chunk_basics.items() if b.distinct <= options.top_values_max_distinct]
            tops.update(_top_values(session, small, options.top_values_limit))
        if on_progress is not None:
            on_progress((done + 1) / len(work))
    session.fetchall(f"DROP TABLE IF EXISTS {GROUPS_TABLE}")
    profiles = []
    for position, name in enumerate(header):
        b = basics.get(name, _Basic(0, 0, None, None))
        column_type = types[name]
        profiles.append(
            ColumnProfile(
                name=name,
                type=column_type,
                position=position,
                missing=row_count - b.count,
                distinct=b.distinct,
                min=_json(b.min),
                max=_json(b.max),
                mean=b.mean,
                std=b.std,
                top_values=tops.get(name) if column_type in ("string", "boolean") else None,
                histogram=histograms.get(name),
            )
        )
    return profiles


def distinct_sessions(session: DuckSession, parquet: Path, column: str, limit: int) -> tuple[list[str], int]:
    """(up to ``limit`` distinct non-empty session labels in natural order, total distinct count)."""
    ident = quote_ident(column)
    rows = session.fetchall(
        f"SELECT DISTINCT {ident} FROM read_parquet($p) WHERE {ident} IS NOT NULL", {"p": str(parquet)}
    )
    labels = natural_sorted([str(r[0]) for r in rows])
    return labels[:limit], len(labels)
