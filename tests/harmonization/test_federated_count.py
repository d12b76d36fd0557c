"""Federated counts: per study a study count with the mapped filters, the total their sum, disclosure on top."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ApiClient

# (federated filters, alpha's own spec filters, beta's own spec filters): the mapping written out by hand
CASES = [
    ([], [], []),
    (
        [{"variable": "age", "op": "between", "value": [60, 70]}],
        [{"dataset": "demographics", "column": "age_years", "op": "between", "value": [60, 70]}],
        [{"dataset": "demographics", "column": "age_months", "op": "between", "value": [720, 840]}],
    ),
    (
        [{"variable": "sex", "op": "eq", "value": "female"}, {"variable": "iq", "op": "gte", "value": 100}],
        [
            {"dataset": "demographics", "column": "sex", "op": "in", "value": ["F"]},
            {"dataset": "cognitive", "column": "iq", "op": "gte", "value": 100},
        ],
        [
            {"dataset": "demographics", "column": "gender", "op": "in", "value": ["Female"]},
            {"dataset": "iq_test", "column": "iq_score", "op": "gte", "value": 100},
        ],
    ),
    (
        [{"variable": "age", "op": "lt", "value": 40.5}, {"variable": "sex", "op": "ne", "value": "female"}],
        [
            {"dataset": "demographics", "column": "age_years", "op": "lt", "value": 40.5},
            {"dataset": "demographics", "column": "sex", "op": "in", "value": ["M"]},
        ],
        [
            {"dataset": "demographics", "column": "age_months", "op": "lt", "value": 486},
            {"dataset": "demographics", "column": "gender", "op": "in", "value": ["Male"]},
        ],
    ),
    (
        [{"variable": "iq", "op": "not_null"}, {"variable": "age", "op": "in", "value": [27, 34, 55]}],
        [
            {"dataset": "cognitive", "column": "iq", "op": "not_null"},
            {"dataset": "demographics", "column": "age_years", "op": "in", "value": [27, 34, 55]},
        ],
        [
            {"dataset": "iq_test", "column": "iq_score", "op": "not_null"},
            {"dataset": "demographics", "column": "age_months", "op": "in", "value": [324, 408, 660]},
        ],
    ),
]


@pytest.mark.parametrize(("federated", "alpha", "beta"), CASES)
def test_total_is_the_sum_of_independent_study_counts(
    variables: ApiClient, federated: list[Any], alpha: list[Any], beta: list[Any]
) -> None:
    response = variables.post("/api/v1/federated/count", {"studies": ["alpha", "beta"], "filters": federated})
    assert response.status_code == 200, response.content
    body = response.json()
    own = {
        slug: variables.post(f"/api/v1/studies/{slug}/count", {"filters": filters}).json()
        for slug, filters in (("alpha", alpha), ("beta", beta))
    }
    by_study = {item["study"]: item for item in body["by_study"]}
    for slug in ("alpha", "beta"):
        assert (by_study[slug]["participants"], by_study[slug]["rows"]) == (
            own[slug]["participants"],
            own[slug]["rows"],
        ), (slug, federated)
        assert by_study[slug]["missing_variables"] == [] and by_study[slug]["suppressed"] is False
    assert body["participants"] == own["alpha"]["participants"] + own["beta"]["participants"]
    assert body["rows"] == own["alpha"]["rows"] + own["beta"]["rows"]
    assert body["suppressed"] is False
    assert body["participants"] > 0 or federated[-1]["op"] == "in"  # the last case matches only in alpha
    assert {v["name"] for v in body["variables"]} >= {f["variable"] for f in federated}


def test_a_study_without_a_source_matches_no_one(variables: ApiClient) -> None:
    only_alpha = {
        "name": "handedness",
        "type": "string",
        "sources": [{"study": "alpha", "dataset": "demographics", "column": "sex"}],
    }
    assert variables.post("/api/v1/variables", only_alpha).status_code == 201
    body = variables.post(
        "/api/v1/federated/count",
        {"studies": ["alpha", "beta"], "filters": [{"variable": "handedness", "op": "eq", "value": "F"}]},
    ).json()
    by_study = {item["study"]: item for item in body["by_study"]}
    assert by_study["beta"] == {
        "study": "beta",
        "participants": 0,
        "rows": 0,
        "suppressed": False,
        "missing_variables": ["handedness"],
    }
    assert by_study["alpha"]["participants"] == 20 and body["participants"] == 20


def test_bad_requests_are_clear(variables: ApiClient) -> None:
    cases = [
        ({"studies": [], "filters": []}, 422, "invalid_input"),
        ({"studies": ["alpha"], "filters": [{"variable": "nope", "op": "eq", "value": 1}]}, 422, "unknown_variable"),
        ({"studies": ["alpha"], "filters": [{"variable": "age", "op": "eq", "value": "old"}]}, 422, "invalid_value"),
        ({"studies": ["alpha"], "filters": [{"variable": "sex", "op": "gt", "value": "a"}]}, 422, "invalid_operator"),
        (
            {"studies": ["alpha"], "filters": [{"variable": "age", "op": "between", "value": [9, 1]}]},
            422,
            "invalid_value",
        ),
        ({"studies": ["alpha"], "filters": [{"variable": "age", "op": "like", "value": 1}]}, 422, "invalid_operator"),
        ({"studies": ["alpha"], "filters": [], "extra": 1}, 422, "invalid_spec"),
        ({"studies": ["alpha", "nowhere"], "filters": []}, 404, "not_found"),
    ]
    for payload, status, code in cases:
        response = variables.post("/api/v1/federated/count", payload)
        assert response.status_code == status, (payload, response.content)
        assert response.json()["error"]["code"] == code, (payload, response.content)


def test_each_study_is_authorized(variables: ApiClient, api: Callable[..., ApiClient], tenant_a: Any) -> None:
    assert variables.post("/api/v1/studies/beta/defaults", {"level": "metadata"}).status_code == 201
    analyst = api(tenant_a, "analyst")
    response = analyst.post("/api/v1/federated/count", {"studies": ["alpha", "beta"], "filters": []})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "access_level_insufficient"
    assert analyst.post("/api/v1/federated/count", {"studies": ["alpha"], "filters": []}).status_code == 200
    assert api(tenant_a, "viewer").post("/api/v1/federated/count", {"studies": ["alpha"]}).status_code == 403


def test_huge_values_are_refused_not_crashed(variables: ApiClient) -> None:
    payload = {"studies": ["alpha", "beta"], "filters": [{"variable": "age", "op": "gt", "value": 1e308}]}
    response = variables.post("/api/v1/federated/count", payload)
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_value"


def test_new_data_that_no_longer_fits_a_variable_is_named(variables: ApiClient, upload: Callable[..., Any]) -> None:
    text = "participant_id,session,age_months,gender\nB001,BAS,300,Female\nB002,BAS,320,Other\n"
    assert upload("beta", text, "demographics", kind="demographics")[1]["status"] == "succeeded"
    payload = {"studies": ["alpha", "beta"], "filters": [{"variable": "sex", "op": "eq", "value": "female"}]}
    response = variables.post("/api/v1/federated/count", payload)
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert (
        error["code"] == "variable_outdated" and error["details"]["study"] == "beta" and "'Other'" in error["message"]
    )
    fixed = variables.get("/api/v1/variables/sex").json()
    fixed["sources"][1]["recode"]["Other"] = "other"
    fixed.pop("revision")
    assert variables.put("/api/v1/variables/sex", fixed).json()["revision"] == 2
    body = variables.post("/api/v1/federated/count", payload).json()
    assert next(s for s in body["by_study"] if s["study"] == "beta")["participants"] == 1
    assert body["variables"] == [{"name": "sex", "revision": 2}]
