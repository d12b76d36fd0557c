"""Ordinary least squares of y on x, with BDT's wording of strength and significance."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from analysis.stats.errors import StatsError
from analysis.stats.numbers import FloatArray, num

MIN_POINTS = 3  # two points always fit exactly (no p-value, no standard error)


def significance_words(p: float) -> str:
    """BDT's wording: < .001 highly significant, < .01 very significant, < .05 significant, else not."""
    if p < 0.001:
        return "highly significant"
    if p < 0.01:
        return "very significant"
    if p < 0.05:
        return "significant"
    return "not significant"


def strength_words(r: float) -> str:
    """BDT's wording: |r| > 0.7 strong, > 0.3 moderate, else weak."""
    size = abs(r)
    if size > 0.7:
        return "strong"
    if size > 0.3:
        return "moderate"
    return "weak"


def ols(x: FloatArray, y: FloatArray, *, x_name: str = "x", y_name: str = "y") -> dict[str, Any]:
    """Slope, intercept, r, R², p (two-sided, slope = 0), standard error of the slope, n, equation, interpretation.

    Rows missing x or y are dropped. Needs at least 3 complete rows and a non-constant x.
    """
    keep = ~(np.isnan(x) | np.isnan(y))
    xs, ys = x[keep], y[keep]
    n = int(xs.size)
    if n == 0:
        raise StatsError("all_missing", f"No row has both {x_name!r} and {y_name!r}.", {"x": x_name, "y": y_name})
    if n < MIN_POINTS:
        raise StatsError(
            "too_few_rows",
            f"A regression needs at least {MIN_POINTS} rows with both values; there are {n}.",
            {"n": n, "minimum": MIN_POINTS},
        )
    if np.ptp(xs) == 0:
        raise StatsError(
            "constant_column", f"Column {x_name!r} has the same value in every row: no slope.", {"column": x_name}
        )
    fit = stats.linregress(xs, ys)
    r = float(fit.rvalue) if np.ptp(ys) > 0 else 0.0
    p = float(fit.pvalue) if np.ptp(ys) > 0 else 1.0
    slope, intercept = float(fit.slope), float(fit.intercept)
    sign = "-" if intercept < 0 else "+"
    direction = "positive" if slope > 0 else "negative" if slope < 0 else "no"
    interpretation = (
        f"There is a {strength_words(r)} {direction} linear relationship between {x_name} and {y_name} "
        f"(r = {r:.3f}, R² = {r * r:.3f}); it is {significance_words(p)} (p = {p:.3g}, n = {n})."
    )
    return {
        "n": n,
        "slope": num(slope),
        "intercept": num(intercept),
        "r": num(r),
        "r_squared": num(r * r),
        "p": num(p),
        "std_err": num(fit.stderr),
        "intercept_std_err": num(fit.intercept_stderr),
        "equation": f"y = {slope:.4g}x {sign} {abs(intercept):.4g}",
        "strength": strength_words(r),
        "significance": significance_words(p),
        "interpretation": interpretation,
    }
