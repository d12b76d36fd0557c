"""A profile report of a result: per column type, missing, distinct, distribution, top values and outliers;
correlations between numeric columns; missingness patterns; alerts. Built on a fixed-seed sample above the limit."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.stats.groups import label
from analysis.stats.loading import frame_load
from analysis.stats.numbers import NUMERIC_TYPES, as_float_array, num

HISTOGRAM_BINS = 20
TOP_VALUES = 10
EXTREMES = 5
MAX_CORRELATION_COLUMNS = 40
MISSING_PATTERNS = 10
HIGH_CORRELATION = 0.9
HIGH_MISSING_PCT = 50.0
Progress = Callable[[float, str], None]


def _text(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return label(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _top(values: list[Any], total: int) -> list[dict[str, Any]]:
    counts = Counter(_text(v) for v in values)
    return [
        {"value": value, "count": n, "pct": round(100.0 * n / total, 2) if total else 0.0}
        for value, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_VALUES]
    ]


def _numeric(values: list[Any]) -> dict[str, Any]:
    array = as_float_array(values)
    present = array[~np.isnan(array)]
    if present.size == 0:
        return {}
    q1, median, q3 = (float(v) for v in np.percentile(present, [25, 50, 75]))
    iqr = q3 - q1
    low_fence, high_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    low, high = present[present < low_fence], present[present > high_fence]
    counts, edges = np.histogram(present, bins=HISTOGRAM_BINS if np.ptp(present) > 0 else 1)
    constant = bool(np.ptp(present) == 0)
    series = pd.Series(present)
    return {
        "mean": num(present.mean()),
        "std": num(present.std(ddof=1)) if present.size > 1 else None,
        "min": num(present.min()),
        "q1": num(q1),
        "median": num(median),
        "q3": num(q3),
        "max": num(present.max()),
        "iqr": num(iqr),
        "skewness": None if constant or present.size < 3 else num(series.skew()),
        "kurtosis": None if constant or present.size < 4 else num(series.kurt()),
        "zeros": int((present == 0).sum()),
        "negatives": int((present < 0).sum()),
        "histogram": {
            "edges": [float(e) for e in edges],
            "counts": [int(c) for c in counts],
            "max": int(counts.max()),
        },
        "outliers": {
            "rule": "outside Q1 - 1.5 IQR .. Q3 + 1.5 IQR",
            "low_fence": num(low_fence),
            "high_fence": num(high_fence),
            "low": int(low.size),
            "high": int(high.size),
            "lowest": [float(v) for v in np.sort(low)[:EXTREMES]],
            "highest": [float(v) for v in np.sort(high)[::-1][:EXTREMES]],
        },
    }


def _column(name: str, kind: str, values: list[Any]) -> dict[str, Any]:
    total = len(values)
    present = [v for v in values if not _missing(v)]
    distinct = len({_text(v) for v in present})
    entry: dict[str, Any] = {
        "name": name,
        "type": kind,
        "count": len(present),
        "missing": total - len(present),
        "missing_pct": round(100.0 * (total - len(present)) / total, 2) if total else 0.0,
        "distinct": distinct,
        "distinct_pct": round(100.0 * distinct / len(present), 2) if present else 0.0,
        "top_values": _top(present, total),
    }
    if kind in NUMERIC_TYPES:
        entry["numeric"] = _numeric(values)
    elif kind == "string":
        lengths = [len(str(v)) for v in present]
        entry["text"] = {"min_length": min(lengths, default=0), "max_length": max(lengths, default=0)}
    elif kind in {"date", "timestamp"} and present:
        entry["range"] = {"min": _text(min(present)), "max": _text(max(present))}
    return entry


def _correlations(frame_columns: dict[str, list[Any]], numeric: list[str]) -> dict[str, Any]:
    used = numeric[:MAX_CORRELATION_COLUMNS]
    if len(used) < 2:
        return {"columns": used, "pearson": [], "spearman": [], "note": "Fewer than two numeric columns."}
    data = pd.DataFrame({name: as_float_array(frame_columns[name]) for name in used})
    result: dict[str, Any] = {"columns": used}
    for method in ("pearson", "spearman"):
        matrix = data.corr(method=method, min_periods=3).to_numpy()
        result[method] = [[num(v) for v in row] for row in matrix]
    if len(numeric) > len(used):
        result["note"] = f"Only the first {len(used)} of {len(numeric)} numeric columns are correlated."
    return result


def _missingness(frame_columns: dict[str, list[Any]], names: list[str], rows: int) -> dict[str, Any]:
    flags = [[_missing(v) for v in frame_columns[name]] for name in names]
    patterns: Counter[tuple[int, ...]] = Counter()
    for i in range(rows):
        patterns[tuple(j for j, column in enumerate(flags) if column[i])] += 1
    return {
        "complete_rows": patterns.get((), 0),
        "patterns": [
            {"missing": [names[j] for j in pattern], "rows": n, "pct": round(100.0 * n / rows, 2) if rows else 0.0}
            for pattern, n in patterns.most_common(MISSING_PATTERNS)
        ],
        "distinct_patterns": len(patterns),
    }


def _alerts(columns: list[dict[str, Any]], correlations: dict[str, Any]) -> list[dict[str, str]]:
    alerts = []
    for entry in columns:
        if entry["count"] == 0:
            alerts.append({"column": entry["name"], "kind": "all_missing", "message": "Every value is missing."})
            continue
        if entry["distinct"] == 1:
            alerts.append({"column": entry["name"], "kind": "constant", "message": "Only one distinct value."})
        if entry["missing_pct"] > HIGH_MISSING_PCT:
            alerts.append({"column": entry["name"], "kind": "missing", "message": f"{entry['missing_pct']}% missing."})
        if entry["type"] == "string" and entry["distinct"] == entry["count"] and entry["count"] > 1:
            alerts.append({"column": entry["name"], "kind": "unique", "message": "Every value is different."})
    names = correlations.get("columns", [])
    for i, row in enumerate(correlations.get("pearson", [])):
        for j in range(i + 1, len(row)):
            value = row[j]
            if value is not None and abs(value) >= HIGH_CORRELATION:
                alerts.append(
                    {
                        "column": f"{names[i]} / {names[j]}",
                        "kind": "correlated",
                        "message": f"Highly correlated (r = {value:.2f}).",
                    }
                )
    return alerts


def profile_build(
    path: Path, columns: list[tuple[str, str]], *, limit: int, progress: Progress | None = None
) -> dict[str, Any]:
    """The profile of the result at ``path`` (columns as (name, type) in output order)."""
    report = progress or (lambda _fraction, _message: None)
    names = [name for name, _ in columns]
    types = dict(columns)
    report(0.02, "Reading the result")
    frame = frame_load(path, names, types, limit=limit)
    entries = []
    for index, name in enumerate(names):
        entries.append(_column(name, types[name], frame.columns[name]))
        report(0.05 + 0.75 * (index + 1) / max(len(names), 1), f"Column {index + 1} of {len(names)}")
    numeric = [name for name in names if types[name] in NUMERIC_TYPES]
    correlations = _correlations(frame.columns, numeric)
    report(0.9, "Correlations")
    missingness = _missingness(frame.columns, names, frame.size)
    report(0.97, "Missingness patterns")
    return {
        "table": {
            "rows": frame.total_rows,
            "columns": len(names),
            "numeric_columns": len(numeric),
            "missing_cells": sum(entry["missing"] for entry in entries),
            "cells": frame.size * len(names),
        },
        "sample": frame.sample_info(),
        "columns": entries,
        "correlations": correlations,
        "missingness": missingness,
        "alerts": _alerts(entries, correlations),
    }
