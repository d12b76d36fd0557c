"""Harmonized variables: defined by owners and stewards, validated against the studies' data, versioned."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from tests.conftest import ApiClient
from tests.harmonization.conftest import AGE, SEX


def test_steward_defines_and_members_read(variables: ApiClient, api: Callable[..., ApiClient], tenant_a: Any) -> None:
    viewer = api(tenant_a, "viewer")
    listed = viewer.get("/api/v1/variables")
    assert listed.status_code == 200
    assert [v["name"] for v in listed.json()] == ["age", "iq", "sex"]
    age = viewer.get("/api/v1/variables/age").json()
    assert age["unit"] == "years" and age["revision"] == 1
    assert age["sources"][1] == {
        "study": "beta",
        "dataset": "demographics",
        "column": "age_months",
        "scale": 1 / 12,
        "offset": None,
        "recode": None,
    }


def test_analysts_cannot_define(two_studies: Any, api: Callable[..., ApiClient], tenant_a: Any) -> None:
    analyst = api(tenant_a, "analyst")
    response = analyst.post("/api/v1/variables", AGE)
    assert response.status_code == 403
    assert analyst.get("/api/v1/variables/age").status_code == 404


def _with_source(definition: dict[str, Any], index: int, **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(definition)
    changed["sources"][index].update(changes)
    return changed


def test_invalid_definitions_are_422_naming_the_problem(two_studies: Any, steward_api: ApiClient) -> None:
    cases = [
        (_with_source(AGE, 0, column="no_such"), "unknown_source", "alpha/demographics/no_such"),
        (_with_source(AGE, 1, study="gamma"), "unknown_source", "gamma/demographics"),
        (_with_source(AGE, 0, dataset="nothing"), "unknown_source", "alpha/nothing"),
        (_with_source(AGE, 0, column="sex"), "type_mismatch", "string"),
        (_with_source(AGE, 1, scale=0), "invalid_scale", "scale"),
        (_with_source(AGE, 0, column="participant_id"), "unknown_source", "participant_id"),
        (_with_source(SEX, 1, recode={"Female": "female"}), "recode_incomplete", "'Male'"),
        ({**SEX, "type": "number"}, "type_mismatch", "string"),
        ({**AGE, "type": "text"}, "invalid_definition", "type"),
        ({**AGE, "name": "Bad Name"}, "invalid_name", "lower-case"),
    ]
    for payload, code, words in cases:
        response = steward_api.post("/api/v1/variables", payload)
        assert response.status_code == 422, (payload, response.content)
        error = response.json()["error"]
        assert error["code"] == code, (payload, error)
        assert words in error["message"], (payload, error)
    assert steward_api.get("/api/v1/variables").json() == []  # nothing half-written


def test_identity_string_source_needs_no_recode(two_studies: Any, steward_api: ApiClient) -> None:
    plain = _with_source(SEX, 0, recode=None)
    plain["sources"] = plain["sources"][:1]
    response = steward_api.post("/api/v1/variables", plain)
    assert response.status_code == 201, response.content


def test_revisions_are_kept_and_listed(variables: ApiClient) -> None:
    changed = _with_source(AGE, 0, offset=0.5)
    changed["label"] = "Age (half-year corrected)"
    response = variables.put("/api/v1/variables/age", changed)
    assert response.status_code == 200, response.content
    assert response.json()["revision"] == 2
    bad = variables.put("/api/v1/variables/age", _with_source(AGE, 0, column="nope"))
    assert bad.status_code == 422
    assert variables.get("/api/v1/variables/age").json()["revision"] == 2
    history = variables.get("/api/v1/variables/age/history").json()
    assert [h["revision"] for h in history] == [2, 1]
    assert history[0]["definition"]["sources"][0]["offset"] == 0.5
    assert history[1]["definition"]["label"] == "Age at visit"
    assert history[0]["by"] == variables.user.email  # type: ignore[attr-defined]
    assert variables.delete("/api/v1/variables/age").status_code == 204
    assert variables.get("/api/v1/variables/age").status_code == 404
    assert variables.post("/api/v1/variables", AGE).status_code == 201
    assert variables.post("/api/v1/variables", AGE).json()["error"]["code"] == "variable_exists"
