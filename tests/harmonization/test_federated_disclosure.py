"""Federated counts for count-level callers: every per-study cell and the total go through the cell-key method
with complementary suppression, so no hidden cell is the total minus the shown cells."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ApiClient

FILTER_SETS = [
    [],
    [{"variable": "sex", "op": "eq", "value": "male"}],
    [{"variable": "age", "op": "lt", "value": 30}],
    [{"variable": "age", "op": "between", "value": [60, 70]}],
    [{"variable": "sex", "op": "eq", "value": "male"}, {"variable": "age", "op": "gte", "value": 50}],
    [{"variable": "iq", "op": "gte", "value": 120}],
    [{"variable": "iq", "op": "lt", "value": 90}, {"variable": "sex", "op": "eq", "value": "female"}],
]


@pytest.fixture
def counter(variables: ApiClient, api: Callable[..., ApiClient], tenant_a: Any) -> ApiClient:
    """An analyst at the count level on both studies (like a consortium member)."""
    for slug in ("alpha", "beta"):
        assert variables.post(f"/api/v1/studies/{slug}/defaults", {"level": "count"}).status_code == 201
    return api(tenant_a, "analyst")


def test_no_hidden_cell_is_derivable(variables: ApiClient, counter: ApiClient) -> None:
    seen_suppressed = False
    for filters in FILTER_SETS:
        payload = {"studies": ["alpha", "beta"], "filters": filters}
        exact = variables.post("/api/v1/federated/count", payload).json()
        shown = counter.post("/api/v1/federated/count", payload)
        assert shown.status_code == 200, shown.content
        body = shown.json()
        assert body["perturbed"] is True and body["threshold"] == 10
        true_of = {item["study"]: item["participants"] for item in exact["by_study"]}
        hidden = [item for item in body["by_study"] if item["suppressed"]]
        for item in body["by_study"]:
            if true_of[item["study"]] < 10:  # a small cell is never shown
                assert item["suppressed"] and item["participants"] is None, (filters, item)
            if item["suppressed"]:
                assert item["participants"] is None and item["rows"] is None
            else:
                assert abs(item["participants"] - true_of[item["study"]]) <= body["max_noise"]
        if not body["suppressed"]:
            # the total is shown: a single hidden part would be the total minus the shown ones
            assert len(hidden) != 1, (filters, body)
        else:
            assert body["participants"] is None and all(item["suppressed"] for item in body["by_study"])
        seen_suppressed = seen_suppressed or bool(hidden)
    assert seen_suppressed  # the filter sets do reach small cells


def test_small_study_hides_its_partner_too(variables: ApiClient, counter: ApiClient) -> None:
    """alpha has 40 participants, beta's men over 50 are few: beta is suppressed, so alpha is hidden as well."""
    filters = [{"variable": "sex", "op": "eq", "value": "male"}, {"variable": "age", "op": "gte", "value": 50}]
    exact = variables.post("/api/v1/federated/count", {"studies": ["alpha", "beta"], "filters": filters}).json()
    small = [item for item in exact["by_study"] if item["participants"] < 10]
    large = [item for item in exact["by_study"] if item["participants"] >= 10]
    if not small or not large or exact["participants"] < 10:
        pytest.skip("the data does not give a small and a large cell for this filter")
    body = counter.post("/api/v1/federated/count", {"studies": ["alpha", "beta"], "filters": filters}).json()
    assert all(item["suppressed"] for item in body["by_study"])
    assert body["suppressed"] is False and body["participants"] is not None


def test_structural_zero_is_shown_and_charged_nothing(variables: ApiClient, counter: ApiClient) -> None:
    only_alpha = {
        "name": "alpha_only",
        "type": "number",
        "sources": [{"study": "alpha", "dataset": "demographics", "column": "age_years"}],
    }
    assert variables.post("/api/v1/variables", only_alpha).status_code == 201
    body = counter.post(
        "/api/v1/federated/count",
        {"studies": ["alpha", "beta"], "filters": [{"variable": "alpha_only", "op": "gt", "value": 0}]},
    ).json()
    beta = next(item for item in body["by_study"] if item["study"] == "beta")
    assert beta["participants"] == 0 and beta["suppressed"] is False and beta["missing_variables"] == ["alpha_only"]
    alpha = next(item for item in body["by_study"] if item["study"] == "alpha")
    assert alpha["suppressed"] is False and body["participants"] == alpha["participants"]


def test_count_scoped_token_gets_protected_federated_counts(variables: ApiClient, tenant_a: Any) -> None:
    """A steward's count-scoped token is capped at the count level: the federated answer is protected."""
    from django.db import connection

    from tenants.tokens import api_token_create

    created = api_token_create(user=variables.user, tenant=tenant_a, name="counting", scope="count")  # type: ignore[attr-defined]
    connection.set_schema_to_public()
    counting = ApiClient(host="lab-a.test", token=created.plaintext)
    body = counting.post("/api/v1/federated/count", {"studies": ["alpha", "beta"], "filters": []})
    assert body.status_code == 200, body.content
    assert body.json()["perturbed"] is True
    assert counting.get("/api/v1/variables").status_code == 200
    assert counting.post("/api/v1/federated/queries", {"studies": ["alpha"], "variables": ["age"]}).status_code == 403
