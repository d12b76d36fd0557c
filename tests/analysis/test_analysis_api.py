"""POST /queries/{id}/analysis, plots, selections and their export, through the API, against scipy."""

from __future__ import annotations

import csv
import io
import itertools
import math
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from scipy import stats

from analysis.services import profile_job_execute
from audit.models import AuditEvent
from tests.analysis.conftest import AGE, GROUP, IDS, SCORE

pytestmark = pytest.mark.django_db


def close(a: Any, b: Any) -> bool:
    return a is not None and math.isclose(a, float(b), rel_tol=1e-9, abs_tol=1e-12)


def analyse(client: Any, run: int, **body: Any) -> Any:
    return client.post(f"/api/v1/queries/{run}/analysis", body)


def test_ols_describe_anova_ttests_crosstab_match_scipy(analyst, stats_run) -> None:
    fit = analyse(analyst, stats_run, kind="ols", x="age", y="score").json()
    expected = stats.linregress(AGE, SCORE)
    assert fit["n"] == 60 and close(fit["slope"], expected.slope) and close(fit["intercept"], expected.intercept)
    assert close(fit["r"], expected.rvalue) and close(fit["r_squared"], expected.rvalue**2)
    assert close(fit["p"], expected.pvalue) and close(fit["std_err"], expected.stderr)
    assert fit["equation"] and fit["interpretation"] and fit["sample"]["sampled"] is False

    d = analyse(analyst, stats_run, kind="describe", column="score").json()
    assert d["n"] == 60 and close(d["mean"], SCORE.mean()) and close(d["std"], SCORE.std(ddof=1))
    assert close(d["skewness"], stats.skew(SCORE)) and close(d["kurtosis"], stats.kurtosis(SCORE))
    assert close(d["q1"], np.percentile(SCORE, 25)) and close(d["iqr"], np.subtract(*np.percentile(SCORE, [75, 25])))
    assert close(d["shapiro"]["p"], stats.shapiro(SCORE).pvalue) and d["anderson"]["significance"] in {"<0.05", ">0.05"}

    a = analyse(analyst, stats_run, kind="anova", value="score", group="grp").json()
    expected_f = stats.f_oneway(*[SCORE[np.equal(GROUP, g)] for g in "ABC"])
    assert close(a["F"], expected_f.statistic) and close(a["p"], expected_f.pvalue)
    assert (a["df_between"], a["df_within"]) == (2, 57)
    assert close(a["eta_squared"], a["ss_between"] / (a["ss_between"] + a["ss_within"]))
    assert [(g["group"], g["n"]) for g in a["groups"]] == [("A", 20), ("B", 20), ("C", 20)]

    t = analyse(analyst, stats_run, kind="ttests", value="score", group="grp").json()
    for pair, (ga, gb) in zip(t["pairs"], itertools.combinations("ABC", 2), strict=True):
        ref = stats.ttest_ind(SCORE[np.equal(GROUP, ga)], SCORE[np.equal(GROUP, gb)])
        assert close(pair["t"], ref.statistic) and close(pair["p_bonferroni"], min(1.0, ref.pvalue * 3))
        assert pair["cohens_d"] is not None

    x = analyse(analyst, stats_run, kind="crosstab", row="grp", column="cohort").json()
    assert x["row_levels"] == ["A", "B", "C"] and x["counts"] == [[20], [20], [20]] and x["total"] == 60


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"kind": "ols", "x": "grp", "y": "score"}, "not_numeric"),
        ({"kind": "describe", "column": "late"}, "too_few_rows"),
        ({"kind": "describe", "column": "phantom_value"}, "all_missing"),
        ({"kind": "ols", "x": "const", "y": "score"}, "constant_column"),
        ({"kind": "anova", "value": "score", "group": "cohort"}, "one_group"),
        ({"kind": "ttests", "value": "score", "group": "uid"}, "too_many_groups"),
        ({"kind": "crosstab", "row": "uid", "column": "participant_id"}, "too_many_groups"),
        ({"kind": "regress", "x": "age"}, "invalid_kind"),
        ({"kind": "ols", "x": "age"}, "invalid_request"),
        ({"kind": "describe", "column": "nope'; DROP TABLE x; --"}, "unknown_column"),
    ],
)
def test_bad_input_is_422_with_a_code_and_message(analyst, stats_run, body, code) -> None:
    response = analyse(analyst, stats_run, **body)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_other_users_and_tenants_get_404(api, tenant_a, tenant_b, stats_run) -> None:
    for client in (api(tenant_a, "analyst"), api(tenant_b, "owner")):
        response = analyse(client, stats_run, kind="describe", column="age")
        assert response.status_code == 404
        assert client.post(f"/api/v1/queries/{stats_run}/plot", {"kind": "histogram", "x": "age"}).status_code == 404


def test_count_only_callers_get_suppressed_crosstabs_and_nothing_row_level(
    analyst, stats_run, steward_api, tenant_a
) -> None:
    response = steward_api.post("/api/v1/studies/stats/defaults", {"level": "count"})
    assert response.status_code == 201, response.content
    table = analyse(analyst, stats_run, kind="crosstab", row="grp", column="note").json()
    assert table["suppressed"] is True and table["threshold"] == 10 and table["perturbed"] is True
    # The formula-like note is held by 6 participants (< k): its label is not shown, it is counted as "other values"
    assert table["column_levels"] == ["ok", "(other values)"] and table["row_levels"] == ["A", "B", "C"]
    # 2 per group < k: suppressed; a row total shown with one hidden cell would give it away (20 - 18 = 2 before
    # the review fix), so a second cell of that row is hidden too (complementary suppression).
    for line, total in zip(table["counts"], table["row_totals"], strict=True):
        assert line[1] is None
        assert total is None or line[0] is None
    assert table["column_totals"][1] is None  # 6 participants
    shown = [v for line in table["counts"] for v in line] + table["row_totals"] + table["column_totals"]
    assert all(v is None or v >= 10 for v in shown)
    assert abs(table["total"] - 60) <= 3 and table["sample"]["rows"] == table["total"] and "chi2" not in table
    everyone = analyst.post("/api/v1/studies/stats/count", {}).json()
    assert table["total"] == everyone["rows"]  # the same set of people: the same number as the count
    denied = analyse(analyst, stats_run, kind="describe", column="age")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "access_level_insufficient"
    plot = analyst.post(f"/api/v1/queries/{stats_run}/plot", {"kind": "histogram", "x": "age"})
    assert plot.status_code == 403
    assert analyst.post(f"/api/v1/queries/{stats_run}/selection", {"rows": [0]}).status_code == 403


def test_selection_maps_points_to_rows_by_key_even_with_colour_traces(analyst, stats_run) -> None:
    """BDT mapped a point's index inside its trace straight to a row: wrong once colour splits the traces."""
    figure = analyst.post(
        f"/api/v1/queries/{stats_run}/plot", {"kind": "scatter", "x": "age", "y": "score", "color": "grp"}
    ).json()
    traces = [t for t in figure["figure"]["data"] if t.get("customdata") is not None]
    assert [t["name"] for t in traces] == ["A", "B", "C"]
    second = traces[1]  # group B: the points with index 0..2 in this trace are rows 1, 4, 7 of the result
    picked = second["customdata"][:3]
    rows = analyst.post(f"/api/v1/queries/{stats_run}/selection", {"rows": picked}).json()
    columns = rows["columns"]
    assert rows["keys"] == sorted(picked)
    for key, item in zip(rows["keys"], rows["items"], strict=True):
        record = dict(zip(columns, item, strict=True))
        position = second["customdata"].index(key)
        assert record["grp"] == "B"
        assert close(record["age"], second["x"][position]) and close(record["score"], second["y"][position])
        assert record["participant_id"] == IDS[IDS.index(record["participant_id"])]
    assert figure["stats"]["ols"]["n"] == 60 and figure["sample"]["sampled"] is False


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"kind": "scatter", "x": "grp", "y": "score"}, "not_numeric"),
        ({"kind": "histogram", "x": "phantom_value"}, "all_missing"),
        ({"kind": "scatter", "x": "age", "y": "score", "facet": "uid"}, "too_many_facets"),
        ({"kind": "box", "x": "uid", "y": "score"}, "too_many_groups"),
        ({"kind": "scatter", "x": "age"}, "missing_column"),
        ({"kind": "pie", "x": "age"}, "invalid_options"),
    ],
)
def test_plot_bad_input(analyst, stats_run, options, code) -> None:
    response = analyst.post(f"/api/v1/queries/{stats_run}/plot", options)
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == code


def test_every_plot_kind_draws_with_its_statistics(analyst, stats_run) -> None:
    for options, key in (
        (
            {"kind": "histogram", "x": "score", "kde": True, "bandwidth": "manual", "factor": 0.5, "facet": "grp"},
            "describe",
        ),
        ({"kind": "box", "x": "grp", "y": "score", "color": "grp"}, "anova"),
        ({"kind": "violin", "x": "grp", "y": "score"}, "ttests"),
        ({"kind": "heatmap", "x": "age", "y": "score", "facet": "grp"}, "ols"),
        ({"kind": "scatter", "x": "age", "y": "score", "size": "age", "color": "age", "facet": "grp"}, "ols"),
    ):
        response = analyst.post(f"/api/v1/queries/{stats_run}/plot", options)
        assert response.status_code == 200, (options, response.content)
        assert key in response.json()["stats"] and response.json()["figure"]["data"]


def test_selection_export_is_formula_safe_audited_and_bad_input_is_clear(analyst, stats_run, tenant_a) -> None:
    path = f"/api/v1/queries/{stats_run}/selection/export"
    response = analyst.post(path, {"rows": [0, 10, 3], "format": "csv", "purpose": "check outliers"})
    assert response.status_code == 200, response.content
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["participant_id"] for r in rows] == ["P001", "P004", "P011"]
    assert rows[0]["note"].startswith("'=") and rows[1]["note"] == "ok"
    with tenant_context(tenant_a):
        event = AuditEvent.objects.filter(action="query.exported").order_by("-id").first()
        assert event is not None and event.details["selection"] is True and event.details["rows"] == 3
    connection.set_schema_to_public()
    for body, code in (
        ({"rows": [0], "format": "csv", "purpose": ""}, "purpose_required"),
        ({"rows": [], "format": "csv", "purpose": "why not"}, "empty_selection"),
        ({"rows": [99999], "format": "csv", "purpose": "why not"}, "unknown_rows"),
        ({"rows": ["1; DROP"], "format": "csv", "purpose": "why not"}, "invalid_selection"),
    ):
        bad = analyst.post(path, body)
        assert bad.status_code == 422, (body, bad.content)
        assert bad.json()["error"]["code"] == code


def test_profile_job_progress_report_and_downloads(analyst, stats_run, tenant_a) -> None:
    started = analyst.post(f"/api/v1/queries/{stats_run}/profiles")
    assert started.status_code == 202 and started.json()["status"] == "queued"
    job = started.json()["id"]
    assert analyst.get(f"/api/v1/profiles/{job}/report.json").status_code == 409
    with tenant_context(tenant_a):
        assert profile_job_execute(job, tenant=tenant_a) == "succeeded"
    connection.set_schema_to_public()
    status = analyst.get(f"/api/v1/profiles/{job}").json()
    assert status["status"] == "succeeded" and status["progress"] == 1.0
    report = analyst.get(f"/api/v1/profiles/{job}/report.json").json()
    score = next(c for c in report["columns"] if c["name"] == "score")
    assert score["count"] == 60 and close(score["numeric"]["mean"], SCORE.mean())
    assert any(a["kind"] == "constant" and a["column"] == "const" for a in report["alerts"])
    assert report["missingness"]["complete_rows"] == 0  # phantom_value is missing everywhere
    html = analyst.get(f"/api/v1/profiles/{job}/report.html")
    assert html.status_code == 200 and b"score" in html.content and b"<script" not in html.content
    assert html["Content-Disposition"].startswith("attachment")
