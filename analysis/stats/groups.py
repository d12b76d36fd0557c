"""Group comparisons: group descriptives, one-way ANOVA with eta squared, pairwise t-tests (Bonferroni, Cohen's d)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from analysis.stats.errors import StatsError
from analysis.stats.numbers import FloatArray, num

MIN_ROWS = 3


@dataclass(frozen=True)
class Groups:
    """Complete rows split by group label (labels as text, in sorted order)."""

    labels: list[str]
    values: list[FloatArray]

    @property
    def n(self) -> int:
        return sum(int(v.size) for v in self.values)


def label(value: Any) -> str:
    """A group value as text (integral floats without '.0')."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def groups_split(
    values: FloatArray, groups: Sequence[Any], *, value_name: str, group_name: str, max_groups: int
) -> Groups:
    """Drop rows missing the value or the group; split by group. Errors for too few rows, one group, too many."""
    by: dict[str, list[float]] = {}
    for value, group in zip(values, groups, strict=True):
        if group is None or math.isnan(value):
            continue
        by.setdefault(label(group), []).append(float(value))
    n = sum(len(v) for v in by.values())
    if n == 0:
        raise StatsError("all_missing", f"No row has both {value_name!r} and {group_name!r}.", {"value": value_name})
    if len(by) > max_groups:
        raise StatsError(
            "too_many_groups",
            f"Column {group_name!r} has {len(by)} groups; at most {max_groups} can be compared.",
            {"column": group_name, "groups": len(by), "maximum": max_groups},
        )
    if len(by) < 2:
        raise StatsError(
            "one_group", f"Column {group_name!r} has only one group: nothing to compare.", {"column": group_name}
        )
    if n < MIN_ROWS:
        raise StatsError(
            "too_few_rows",
            f"A group comparison needs at least {MIN_ROWS} complete rows; there are {n}.",
            {"n": n, "minimum": MIN_ROWS},
        )
    labels = sorted(by, key=lambda text: (_numeric_key(text), text))
    return Groups(labels=labels, values=[np.array(by[name], dtype=np.float64) for name in labels])


def _numeric_key(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf


def group_descriptives(groups: Groups) -> list[dict[str, Any]]:
    """Per group: n, mean, SD (ddof=1), median, quartiles, min, max."""
    rows = []
    for name, values in zip(groups.labels, groups.values, strict=True):
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        rows.append(
            {
                "group": name,
                "n": int(values.size),
                "mean": num(values.mean()),
                "std": num(values.std(ddof=1)) if values.size > 1 else None,
                "median": num(median),
                "q1": num(q1),
                "q3": num(q3),
                "min": num(values.min()),
                "max": num(values.max()),
            }
        )
    return rows


def effect_words(eta_squared: float) -> str:
    """BDT's wording: eta² > 0.14 large, > 0.06 medium, else small."""
    if eta_squared > 0.14:
        return "large"
    if eta_squared > 0.06:
        return "medium"
    return "small"


def stars(p: float | None) -> str:
    """*** < .001, ** < .01, * < .05, else ns."""
    if p is None:
        return "ns"
    if p < 0.001:
        return "***"
    if p < 0.01:
        return "**"
    if p < 0.05:
        return "*"
    return "ns"


def anova(groups: Groups) -> dict[str, Any]:
    """One-way ANOVA table (SS, df, MS, F, p) with eta squared and the group descriptives."""
    everything = np.concatenate(groups.values)
    grand = everything.mean()
    k, n = len(groups.values), everything.size
    ss_between = float(sum(v.size * (v.mean() - grand) ** 2 for v in groups.values))
    ss_within = float(sum(((v - v.mean()) ** 2).sum() for v in groups.values))
    ss_total = ss_between + ss_within
    df_between, df_within = k - 1, n - k
    if df_within <= 0:
        raise StatsError(
            "too_few_rows",
            "ANOVA needs more rows than groups (every group with one row leaves no within-group variation).",
            {"n": int(n), "groups": k},
        )
    if ss_total == 0:
        raise StatsError("constant_column", "The value is the same in every row: nothing to compare.")
    ms_between, ms_within = ss_between / df_between, ss_within / df_within
    if ms_within == 0:
        f_value, p = math.inf, 0.0
    else:
        f_value = ms_between / ms_within
        p = float(stats.f.sf(f_value, df_between, df_within))
    eta_squared = ss_between / ss_total
    return {
        "F": num(f_value),
        "p": num(p),
        "df_between": df_between,
        "df_within": df_within,
        "df_total": int(n - 1),
        "ss_between": num(ss_between),
        "ss_within": num(ss_within),
        "ss_total": num(ss_total),
        "ms_between": num(ms_between),
        "ms_within": num(ms_within),
        "eta_squared": num(eta_squared),
        "effect": effect_words(eta_squared),
        "significance": stars(p),
        "n": int(n),
        "groups": group_descriptives(groups),
    }


def cohens_d(a: FloatArray, b: FloatArray) -> float | None:
    """(mean a - mean b) / pooled SD (ddof=1 within groups); None when the pooled SD is 0."""
    pooled = math.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
    return None if pooled == 0 else float((a.mean() - b.mean()) / pooled)


def ttests(groups: Groups) -> dict[str, Any]:
    """Student t-tests (equal variances) between every pair of groups with more than one value; p-values
    Bonferroni-corrected by m = k(k-1)/2 (all pairs), capped at 1; Cohen's d with the pooled SD."""
    k = len(groups.labels)
    m = k * (k - 1) // 2
    pairs = []
    skipped = []
    for (i, a), (j, b) in itertools.combinations(enumerate(groups.values), 2):
        name_a, name_b = groups.labels[i], groups.labels[j]
        if a.size < 2 or b.size < 2:
            skipped.append({"a": name_a, "b": name_b, "reason": "a group has fewer than 2 values"})
            continue
        if a.var() == 0 and b.var() == 0:
            skipped.append({"a": name_a, "b": name_b, "reason": "both groups are constant"})
            continue
        result = stats.ttest_ind(a, b, equal_var=True)
        p = float(result.pvalue)
        corrected = min(1.0, p * m)
        pairs.append(
            {
                "a": name_a,
                "b": name_b,
                "n_a": int(a.size),
                "n_b": int(b.size),
                "mean_diff": num(a.mean() - b.mean()),
                "t": num(result.statistic),
                "df": int(a.size + b.size - 2),
                "p": num(p),
                "p_bonferroni": num(corrected),
                "significance": stars(corrected),
                "cohens_d": num(cohens_d(a, b)),
            }
        )
    return {"pairs": pairs, "comparisons": m, "skipped": skipped, "groups": group_descriptives(groups)}
