"""A profile report of a result: per column type, missing, distinct, distribution, top values and outliers;
correlations between numeric columns; missingness patterns; alerts. Built on a fixed-seed sample above the limit."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.stats.groups import label
from analysis.stats.loading import frame_chunks
from analysis.stats.numbers import NUMERIC_TYPES, FloatArray, as_float_array, num

HISTOGRAM_BINS = 20
TOP_VALUES = 10
EXTREMES = 5
MAX_CORRELATION_COLUMNS = 40
MISSING_PATTERNS = 10
HIGH_CORRELATION = 0.9
HIGH_MISSING_PCT = 50.0
CHUNK_COLUMNS = 8  # columns read at a time; a multiple of 8, so bit-packed missing flags of chunks line up
PROGRESS_STEP = 0.01  # report progress at most once per 1 % of the columns
Progress = Callable[[float, str], None]


def _text(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return label(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _text_counts(present: list[Any]) -> Counter[str]:
    """How often each value occurs, by its text (values counted first, so each distinct value is formatted once)."""
    try:
        raw = Counter(present)
    except TypeError:  # unhashable values: count their text directly
        return Counter(_text(v) for v in present)
    counts: Counter[str] = Counter()
    for value, n in raw.items():
        counts[_text(value)] += n
    return counts


def _top(counts: Counter[str], total: int) -> list[dict[str, Any]]:
    return [
        {"value": value, "count": n, "pct": round(100.0 * n / total, 2) if total else 0.0}
        for value, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_VALUES]
    ]


def _numeric(array: FloatArray) -> dict[str, Any]:
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


@dataclass(frozen=True)
class _Profiled:
    """One column's report entry, its missing-value mask and (numeric columns) its values as floats."""

    entry: dict[str, Any]
    missing: npt.NDArray[np.bool_]
    floats: FloatArray | None


def _column(name: str, kind: str, values: list[Any]) -> _Profiled:
    total = len(values)
    floats = as_float_array(values) if kind in NUMERIC_TYPES else None  # missing, NaN and inf -> NaN
    if floats is not None:
        missing = np.isnan(floats)
    else:
        missing = np.fromiter((_missing(v) for v in values), dtype=bool, count=total)
    present = list(itertools.compress(values, ~missing))
    counts = _text_counts(present)
    distinct = len(counts)
    entry: dict[str, Any] = {
        "name": name,
        "type": kind,
        "count": len(present),
        "missing": total - len(present),
        "missing_pct": round(100.0 * (total - len(present)) / total, 2) if total else 0.0,
        "distinct": distinct,
        "distinct_pct": round(100.0 * distinct / len(present), 2) if present else 0.0,
        "top_values": _top(counts, total),
    }
    if floats is not None:
        entry["numeric"] = _numeric(floats)
    elif kind == "string":
        lengths = [len(str(v)) for v in present]
        entry["text"] = {"min_length": min(lengths, default=0), "max_length": max(lengths, default=0)}
    elif kind in {"date", "timestamp"} and present:
        entry["range"] = {"min": _text(min(present)), "max": _text(max(present))}
    return _Profiled(entry, missing, floats)


def _correlations(arrays: dict[str, FloatArray], numeric: list[str]) -> dict[str, Any]:
    used = numeric[:MAX_CORRELATION_COLUMNS]
    if len(used) < 2:
        return {"columns": used, "pearson": [], "spearman": [], "note": "Fewer than two numeric columns."}
    data = pd.DataFrame({name: arrays[name] for name in used})
    result: dict[str, Any] = {"columns": used}
    for method in ("pearson", "spearman"):
        matrix = data.corr(method=method, min_periods=3).to_numpy()
        result[method] = [[num(v) for v in row] for row in matrix]
    if len(numeric) > len(used):
        result["note"] = f"Only the first {len(used)} of {len(numeric)} numeric columns are correlated."
    return result


def _missing_flags(masks: list[npt.NDArray[np.bool_]], rows: int) -> npt.NDArray[np.uint8]:
    """Missing-value masks of a chunk's columns, one bit per column (row-major, first column in the high bit)."""
    flags = np.zeros((rows, len(masks)), dtype=bool)
    for j, mask in enumerate(masks):
        flags[:, j] = mask
    return np.packbits(flags, axis=1)


def _missingness(packed: npt.NDArray[np.uint8], names: list[str], rows: int) -> dict[str, Any]:
    """The most common missingness patterns (ties in order of first occurrence), from bit-packed flags."""
    if rows == 0:
        return {"complete_rows": 0, "patterns": [], "distinct_patterns": 0}
    packed = np.concatenate([packed, np.zeros((rows, 1), dtype=np.uint8)], axis=1)  # never zero-width
    patterns, first, counts = np.unique(packed, axis=0, return_index=True, return_counts=True)
    order = sorted(range(len(counts)), key=lambda i: (-int(counts[i]), int(first[i])))
    complete = [int(counts[i]) for i in range(len(counts)) if not patterns[i].any()]
    return {
        "complete_rows": complete[0] if complete else 0,
        "patterns": [
            {
                "missing": [names[j] for j in np.flatnonzero(np.unpackbits(patterns[i])[: len(names)])],
                "rows": int(counts[i]),
                "pct": round(100.0 * int(counts[i]) / rows, 2),
            }
            for i in order[:MISSING_PATTERNS]
        ],
        "distinct_patterns": len(counts),
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
    """The profile of the result at ``path`` (columns as (name, type) in output order).

    Columns are read ``CHUNK_COLUMNS`` at a time (the same fixed-seed sample rows in each chunk); only compact
    per-column results, bit-packed missing flags and the correlated numeric columns are kept, so the memory of a
    profile grows with the sample, not with the width of the result.
    """
    report = progress or (lambda _fraction, _message: None)
    names = [name for name, _ in columns]
    types = dict(columns)
    numeric = [name for name in names if types[name] in NUMERIC_TYPES]
    correlated = set(numeric[:MAX_CORRELATION_COLUMNS])
    report(0.02, "Reading the result")
    entries: list[dict[str, Any]] = []
    arrays: dict[str, FloatArray] = {}
    packed: list[npt.NDArray[np.uint8]] = []
    sample: dict[str, Any] = {}
    size, reported = 0, 0.0
    for frame in frame_chunks(path, names, types, limit=limit, width=CHUNK_COLUMNS):
        sample, size = frame.sample_info(), frame.size
        masks = []
        for name, values in frame.columns.items():
            profiled = _column(name, types[name], values)
            entries.append(profiled.entry)
            masks.append(profiled.missing)
            if name in correlated and profiled.floats is not None:
                arrays[name] = profiled.floats
            done = len(entries) / len(names)
            if done - reported >= PROGRESS_STEP or len(entries) == len(names):
                report(0.05 + 0.75 * done, f"Column {len(entries)} of {len(names)}")
                reported = done
        packed.append(_missing_flags(masks, size))
    correlations = _correlations(arrays, numeric)
    report(0.9, "Correlations")
    missingness = _missingness(np.concatenate(packed, axis=1), names, size)
    report(0.97, "Missingness patterns")
    return {
        "table": {
            "rows": sample.get("rows", 0),
            "columns": len(names),
            "numeric_columns": len(numeric),
            "missing_cells": sum(entry["missing"] for entry in entries),
            "cells": size * len(names),
        },
        "sample": sample,
        "columns": entries,
        "correlations": correlations,
        "missingness": missingness,
        "alerts": _alerts(entries, correlations),
    }
