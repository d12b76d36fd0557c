"""The Django-free statistics against independent scipy / statsmodels / numpy computations, and their bad input."""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from analysis.stats.crosstab import crosstab
from analysis.stats.distribution import describe, kde_curve
from analysis.stats.errors import StatsError
from analysis.stats.groups import anova, groups_split, ttests
from analysis.stats.loading import frame_load, rows_by_keys
from analysis.stats.profile import profile_build
from analysis.stats.regression import ols, significance_words, strength_words
from analysis.stats.requests import Limits, analysis_run

RNG = np.random.default_rng(11)
X = RNG.normal(50, 10, 80)
Y = 0.8 * X + RNG.normal(0, 6, 80)
GROUPS = np.array(["A", "B", "C", "D"])[np.arange(80) % 4]
VALUES = Y + np.where(GROUPS == "B", 4.0, 0.0) + np.where(GROUPS == "D", -3.0, 0.0)


def close(a: float | None, b: float, rel: float = 1e-9) -> bool:
    return a is not None and math.isclose(a, float(b), rel_tol=rel, abs_tol=1e-12)


def test_ols_matches_scipy_linregress_and_words() -> None:
    x, y = X.copy(), Y.copy()
    x[3], y[7] = np.nan, np.nan  # incomplete rows are dropped
    result = ols(x, y, x_name="age", y_name="score")
    keep = ~(np.isnan(x) | np.isnan(y))
    expected = stats.linregress(x[keep], y[keep])
    assert result["n"] == 78
    for key, value in (("slope", expected.slope), ("intercept", expected.intercept), ("r", expected.rvalue),
                       ("p", expected.pvalue), ("std_err", expected.stderr)):  # fmt: skip
        assert close(result[key], value), key
    assert close(result["r_squared"], expected.rvalue**2)
    assert result["equation"].startswith("y = ")
    assert "strong positive" in result["interpretation"] and "highly significant" in result["interpretation"]


@pytest.mark.parametrize(("p", "words"), [(0.0005, "highly significant"), (0.005, "very significant"),
                                          (0.03, "significant"), (0.05, "not significant")])  # fmt: skip
def test_significance_thresholds(p: float, words: str) -> None:
    assert significance_words(p) == words


@pytest.mark.parametrize(("r", "words"), [(0.71, "strong"), (-0.7, "moderate"), (0.31, "moderate"), (0.3, "weak")])
def test_strength_thresholds(r: float, words: str) -> None:
    assert strength_words(r) == words


def test_describe_matches_scipy_and_numpy() -> None:
    values = np.append(X, [np.nan, np.nan])
    result = describe(values, name="age")
    assert result["n"] == 80 and result["missing"] == 2
    assert close(result["mean"], np.mean(X)) and close(result["median"], np.median(X))
    assert close(result["std"], np.std(X, ddof=1)) and close(result["variance"], np.var(X, ddof=1))
    assert close(result["skewness"], stats.skew(X)) and close(result["kurtosis"], stats.kurtosis(X))
    assert close(result["q1"], np.percentile(X, 25)) and close(result["q3"], np.percentile(X, 75))
    assert close(result["iqr"], np.percentile(X, 75) - np.percentile(X, 25))
    assert close(result["min"], X.min()) and close(result["max"], X.max())
    shapiro = stats.shapiro(X)
    assert close(result["shapiro"]["statistic"], shapiro.statistic) and close(result["shapiro"]["p"], shapiro.pvalue)
    anderson = stats.anderson(X, "norm", method="interpolate")
    assert close(result["anderson"]["statistic"], anderson.statistic)
    assert result["anderson"]["significance"] == ("<0.05" if anderson.pvalue < 0.05 else ">0.05")


def test_shapiro_only_within_its_valid_n_and_anderson_from_8() -> None:
    few = describe(np.array([1.0, 2.0, 4.0, 7.0]))
    assert few["shapiro"] is not None and few["anderson"] is None and "at least 8" in few["notes"]["anderson"]
    many = describe(np.random.default_rng(1).normal(size=5001))
    assert many["shapiro"] is None and "3 to 5000" in many["notes"]["shapiro"]
    assert many["anderson"] is not None


def test_constant_column_describes_location_with_null_shape() -> None:
    result = describe(np.full(10, 3.0), name="const")
    assert result["mean"] == 3.0 and result["std"] == 0.0
    assert result["skewness"] is None and result["shapiro"] is None and "constant" in result["notes"]["shape"]


def test_anova_matches_scipy_and_statsmodels() -> None:
    import pandas as pd
    import statsmodels.api as sm
    from statsmodels.formula.api import ols as sm_ols

    split = groups_split(VALUES, list(GROUPS), value_name="v", group_name="g", max_groups=10)
    result = anova(split)
    expected = stats.f_oneway(*[VALUES[np.equal(GROUPS, g)] for g in "ABCD"])
    assert close(result["F"], expected.statistic) and close(result["p"], expected.pvalue)
    table = sm.stats.anova_lm(sm_ols("v ~ C(g)", data=pd.DataFrame({"v": VALUES, "g": GROUPS})).fit(), typ=1)
    assert close(result["ss_between"], table["sum_sq"].iloc[0]) and close(result["ss_within"], table["sum_sq"].iloc[1])
    assert (result["df_between"], result["df_within"]) == (3, 76)
    assert close(result["eta_squared"], table["sum_sq"].iloc[0] / table["sum_sq"].sum())
    assert [g["group"] for g in result["groups"]] == ["A", "B", "C", "D"]
    b = VALUES[GROUPS == "B"]
    assert close(result["groups"][1]["mean"], b.mean()) and close(result["groups"][1]["std"], b.std(ddof=1))


def test_ttests_bonferroni_and_cohens_d() -> None:
    split = groups_split(VALUES, list(GROUPS), value_name="v", group_name="g", max_groups=10)
    result = ttests(split)
    assert result["comparisons"] == 6 and len(result["pairs"]) == 6
    for pair, (a, b) in zip(result["pairs"], itertools.combinations("ABCD", 2), strict=True):
        va, vb = VALUES[np.equal(GROUPS, a)], VALUES[np.equal(GROUPS, b)]
        expected = stats.ttest_ind(va, vb, equal_var=True)
        assert (pair["a"], pair["b"]) == (a, b)
        assert close(pair["t"], expected.statistic) and close(pair["p"], expected.pvalue)
        assert close(pair["p_bonferroni"], min(1.0, expected.pvalue * 6))
        pooled = math.sqrt(((va.size - 1) * va.var(ddof=1) + (vb.size - 1) * vb.var(ddof=1)) / (va.size + vb.size - 2))
        assert close(pair["cohens_d"], (va.mean() - vb.mean()) / pooled)


@pytest.mark.parametrize(
    ("values", "groups", "code"),
    [
        (np.array([1.0, 2.0, 3.0]), ["a", "a", "a"], "one_group"),
        (np.array([1.0, 2.0]), ["a", "b"], "too_few_rows"),
        (np.array([np.nan, np.nan, np.nan]), ["a", "b", "c"], "all_missing"),
        (np.arange(60, dtype=float), [f"g{i}" for i in range(60)], "too_many_groups"),
    ],
)
def test_group_bad_input(values: np.ndarray, groups: list[str], code: str) -> None:
    with pytest.raises(StatsError) as caught:
        groups_split(values, groups, value_name="v", group_name="g", max_groups=50)
    assert caught.value.code == code and caught.value.message


def test_anova_on_constant_values_is_a_clear_error() -> None:
    split = groups_split(np.full(6, 2.0), list("aabbcc"), value_name="v", group_name="g", max_groups=10)
    with pytest.raises(StatsError) as caught:
        anova(split)
    assert caught.value.code == "constant_column"


@pytest.mark.parametrize(
    ("x", "y", "code"),
    [
        (np.array([1.0, 2.0]), np.array([1.0, 2.0]), "too_few_rows"),
        (np.array([np.nan, np.nan, np.nan]), np.array([1.0, 2.0, 3.0]), "all_missing"),
        (np.array([2.0, 2.0, 2.0, 2.0]), np.array([1.0, 2.0, 3.0, 4.0]), "constant_column"),
    ],
)
def test_ols_bad_input(x: np.ndarray, y: np.ndarray, code: str) -> None:
    with pytest.raises(StatsError) as caught:
        ols(x, y)
    assert caught.value.code == code


def test_crosstab_counts_and_chi2() -> None:
    pairs = [("F", "A", 12), ("F", "B", 3), ("M", "A", 7), ("M", "B", 20), (None, "A", 2)]
    full = crosstab(pairs, row_name="sex", column_name="group", max_levels=10)
    assert full["row_levels"] == ["F", "M", "(missing)"] and full["counts"] == [[12, 3], [7, 20], [2, 0]]
    expected = stats.chi2_contingency(np.array([[12, 3], [7, 20]]), correction=False)
    assert close(full["chi2"]["statistic"], expected.statistic) and close(full["chi2"]["p"], expected.pvalue)
    assert full["row_totals"] == [15, 27, 2] and full["total"] == 44 and full["suppressed"] is False


def test_kde_bandwidths_match_scipy() -> None:
    for method, factor, expected_bw in (("scott", 1.0, "scott"), ("silverman", 1.0, "silverman"),
                                        ("manual", 0.5, 0.5 * X.size ** (-1 / 5))):  # fmt: skip
        curve = kde_curve(X, method, factor)  # type: ignore[arg-type]
        span = X.max() - X.min()
        grid = np.linspace(X.min() - 0.1 * span, X.max() + 0.1 * span, 300)
        assert np.allclose(curve["y"], stats.gaussian_kde(X, bw_method=expected_bw)(grid))
    with pytest.raises(StatsError) as caught:
        kde_curve(X, "manual", 9.0)
    assert caught.value.code == "invalid_bandwidth"


def _parquet(path: Path, n: int) -> Path:
    rng = np.random.default_rng(3)
    x = rng.normal(size=n)
    pq.write_table(
        pa.table(
            {
                "id": pa.array(np.arange(n)),
                "x": x,
                "y": 3 * x + rng.normal(size=n),
                "g": np.array(["a", "b"])[np.arange(n) % 2],
            }
        ),
        path,
        row_group_size=250_000,
    )
    return path


def test_a_million_rows_are_sampled_with_a_fixed_seed(tmp_path: Path) -> None:
    path = _parquet(tmp_path / "big.parquet", 1_000_000)
    types = {"id": "integer", "x": "float", "y": "float", "g": "string"}
    started = time.monotonic()
    result = analysis_run(
        {"kind": "ols", "x": "x", "y": "y"},
        path,
        types,
        Limits(sample_rows=50_000, max_groups=50),
        reader=duckdb.connect,
    )
    assert result["sample"] == {"rows": 1_000_000, "used": 50_000, "sampled": True, "seed": 42}
    assert result["n"] == 50_000 and abs(result["slope"] - 3) < 0.05
    again = analysis_run(
        {"kind": "ols", "x": "x", "y": "y"},
        path,
        types,
        Limits(sample_rows=50_000, max_groups=50),
        reader=duckdb.connect,
    )
    assert again["slope"] == result["slope"]  # same seed, same sample
    # The sampled rows are the rows with those keys: the key is the row number (= the id column here).
    frame = frame_load(path, ["id", "x"], types, limit=1000)
    assert frame.columns["id"] == frame.keys.tolist()
    crosstab_result = analysis_run(
        {"kind": "crosstab", "row": "g", "column": "g"}, path, types, Limits(50_000, 50), reader=duckdb.connect
    )
    assert crosstab_result["total"] == 1_000_000  # crosstabs count every row
    profile = profile_build(path, list(types.items()), limit=20_000)
    assert profile["sample"]["sampled"] and profile["sample"]["used"] == 20_000
    assert time.monotonic() - started < 60


def test_rows_by_keys_returns_exactly_those_rows(tmp_path: Path) -> None:
    path = _parquet(tmp_path / "small.parquet", 1000)
    names, keys, rows = rows_by_keys(path, [999, 5, 5, 123])
    assert names == ["id", "x", "y", "g"] and keys == [5, 123, 999]
    assert [row[0] for row in rows] == [5, 123, 999]
    with pytest.raises(StatsError) as caught:
        rows_by_keys(path, [1000])
    assert caught.value.code == "unknown_rows"


def test_profile_reports_columns_outliers_correlations_and_missingness(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    values = [1.0, 2.0, 2.5, 3.0, 100.0, None]
    pq.write_table(
        pa.table({"v": values, "w": [2.0, 4.0, 5.0, 6.0, 200.0, 1.0], "s": ["a", "a", "b", None, "c", "a"]}), path
    )
    report = profile_build(path, [("v", "float"), ("w", "float"), ("s", "string")], limit=1000)
    v = report["columns"][0]
    assert (v["count"], v["missing"], v["distinct"]) == (5, 1, 5)
    assert v["numeric"]["outliers"]["high"] == 1 and v["numeric"]["outliers"]["highest"] == [100.0]
    assert report["columns"][2]["top_values"][0] == {"value": "a", "count": 3, "pct": 50.0}
    assert report["correlations"]["columns"] == ["v", "w"]
    assert math.isclose(
        report["correlations"]["pearson"][0][1], stats.pearsonr(values[:5], [2, 4, 5, 6, 200]).statistic
    )
    assert report["missingness"]["complete_rows"] == 4
    assert {tuple(p["missing"]) for p in report["missingness"]["patterns"]} == {(), ("v",), ("s",)}
