"""Turning column values into clean float arrays, and floats into JSON-safe numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.stats.errors import StatsError
from core.column_types import NUMERIC_TYPES

FloatArray = npt.NDArray[np.float64]


def num(value: Any) -> float | None:
    """A float for JSON: NaN and infinities become None."""
    if value is None:
        return None
    result = float(value)
    return None if math.isnan(result) or math.isinf(result) else result


def as_float_array(values: Sequence[Any] | npt.NDArray[Any]) -> FloatArray:
    """Values as float64, missing (None/NaN/inf) as NaN."""
    array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    array[~np.isfinite(array)] = np.nan
    return array


def require_numeric(name: str, kind: str) -> None:
    """Raise ``not_numeric`` unless the column's type is integer or float."""
    if kind not in NUMERIC_TYPES:
        raise StatsError(
            "not_numeric",
            f"Column {name!r} is {kind}, but this needs a numeric (integer or float) column.",
            {"column": name, "type": kind},
        )


def require_values(name: str, values: FloatArray, minimum: int, purpose: str) -> FloatArray:
    """The non-missing values, or a clear error when the column is all missing or has too few values."""
    present = values[~np.isnan(values)]
    if present.size == 0:
        raise StatsError("all_missing", f"Column {name!r} has no values (all missing).", {"column": name})
    if present.size < minimum:
        raise StatsError(
            "too_few_rows",
            f"{purpose} needs at least {minimum} values; column {name!r} has {present.size}.",
            {"column": name, "n": int(present.size), "minimum": minimum},
        )
    return present
