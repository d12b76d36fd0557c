"""Distribution statistics of one numeric column, normality tests, and the Gaussian KDE curve."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy import stats

from analysis.stats.errors import StatsError
from analysis.stats.numbers import FloatArray, num, require_values

MIN_DESCRIBE = 3
SHAPIRO_RANGE = (3, 5000)
ANDERSON_MIN = 8
KDE_POINTS = 300
KDE_FACTOR_RANGE = (0.1, 5.0)
Bandwidth = Literal["scott", "silverman", "manual"]


def skew_words(skewness: float) -> str:
    """BDT's wording: |skew| < 0.5 symmetric, < 1 moderately skewed, else highly skewed."""
    size = abs(skewness)
    if size < 0.5:
        return "approximately symmetric"
    if size < 1:
        return "moderately skewed"
    return "highly skewed"


def kurtosis_words(kurtosis: float) -> str:
    """BDT's wording: |excess kurtosis| < 0.5 normal tails, > 0.5 heavy-tailed, else (< -0.5) light-tailed."""
    if abs(kurtosis) < 0.5:
        return "normal-tailed"
    return "heavy-tailed" if kurtosis > 0.5 else "light-tailed"


def _shapiro(values: FloatArray, constant: bool) -> tuple[dict[str, Any] | None, str | None]:
    low, high = SHAPIRO_RANGE
    if not low <= values.size <= high:
        return None, f"Shapiro-Wilk is computed for {low} to {high} values; there are {values.size}."
    if constant:
        return None, "Shapiro-Wilk is undefined for a constant column."
    result = stats.shapiro(values)
    return {"statistic": num(result.statistic), "p": num(result.pvalue)}, None


def _anderson(values: FloatArray, constant: bool) -> tuple[dict[str, Any] | None, str | None]:
    if values.size < ANDERSON_MIN:
        return None, f"Anderson-Darling needs at least {ANDERSON_MIN} values; there are {values.size}."
    if constant:
        return None, "Anderson-Darling is undefined for a constant column."
    result = stats.anderson(values, "norm", method="interpolate")
    p = float(result.pvalue)
    return {
        "statistic": num(result.statistic),
        "p": num(p),
        "significance": "<0.05" if p < 0.05 else ">0.05",
        "normal_at_5pct": bool(p >= 0.05),
    }, None


def describe(values: FloatArray, *, name: str = "value") -> dict[str, Any]:
    """n, mean, median, SD and variance (ddof=1), skewness and excess kurtosis (scipy defaults: biased, Fisher),
    min, max, range, quartiles (linear interpolation), IQR, Shapiro-Wilk (3..5000 values) and Anderson-Darling
    (8+ values). A constant column gets its location statistics; shape statistics and tests are null with a note."""
    present = require_values(name, values, MIN_DESCRIBE, "Distribution statistics")
    constant = bool(np.ptp(present) == 0)
    q1, median, q3 = (float(v) for v in np.percentile(present, [25, 50, 75]))
    notes: dict[str, str] = {}
    if constant:
        skewness: float | None = None
        kurtosis: float | None = None
        notes["shape"] = f"Column {name!r} is constant: skewness and kurtosis are undefined."
    else:
        skewness, kurtosis = float(stats.skew(present)), float(stats.kurtosis(present))
    shapiro, note = _shapiro(present, constant)
    if note:
        notes["shapiro"] = note
    anderson, note = _anderson(present, constant)
    if note:
        notes["anderson"] = note
    result: dict[str, Any] = {
        "n": int(present.size),
        "missing": int(values.size - present.size),
        "mean": num(np.mean(present)),
        "median": num(median),
        "std": num(np.std(present, ddof=1)),
        "variance": num(np.var(present, ddof=1)),
        "skewness": num(skewness),
        "kurtosis": num(kurtosis),
        "min": num(np.min(present)),
        "max": num(np.max(present)),
        "range": num(np.ptp(present)),
        "q1": num(q1),
        "q3": num(q3),
        "iqr": num(q3 - q1),
        "shapiro": shapiro,
        "anderson": anderson,
        "notes": notes,
    }
    if skewness is not None and kurtosis is not None:
        result["interpretation"] = f"The distribution is {skew_words(skewness)} and {kurtosis_words(kurtosis)}."
    else:
        result["interpretation"] = "All values are equal."
    return result


def kde_curve(values: FloatArray, bandwidth: Bandwidth = "scott", factor: float = 1.0) -> dict[str, list[float]]:
    """A Gaussian KDE on 300 points over the data range ±10 %: Scott, Silverman, or ``factor`` * n^(-1/5)."""
    present = values[~np.isnan(values)]
    if present.size < 2 or np.ptp(present) == 0:
        raise StatsError("too_few_rows", "A density curve needs at least two different values.")
    if bandwidth == "manual":
        low, high = KDE_FACTOR_RANGE
        if not low <= factor <= high:
            raise StatsError("invalid_bandwidth", f"The bandwidth factor must be between {low} and {high}.")
        method: str | float = factor * present.size ** (-1 / 5)
    elif bandwidth in ("scott", "silverman"):
        method = bandwidth
    else:
        raise StatsError("invalid_bandwidth", "Bandwidth must be scott, silverman or manual.")
    kde = stats.gaussian_kde(present, bw_method=method)
    span = float(np.ptp(present))
    grid = np.linspace(float(present.min()) - 0.1 * span, float(present.max()) + 0.1 * span, KDE_POINTS)
    return {"x": [float(v) for v in grid], "y": [float(v) for v in kde(grid)]}
