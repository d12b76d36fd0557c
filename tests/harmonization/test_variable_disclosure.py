"""A variable's checks against its sources' values name only what the caller's catalog shows: a federated count of a
member below the query level is authorized before any source is read, and its ``variable_outdated`` refusal, like
the 422 of a steward capped at ``count`` saving a variable, never lists a value fewer than k participants hold (nor
an exact distinct count). Query-level callers keep the full value lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ApiClient
from tests.plugins.sharing import offer_and_accept

pytestmark = pytest.mark.django_db

SEX_FEMALE = {"studies": ["alpha", "beta"], "filters": [{"variable": "sex", "op": "eq", "value": "female"}]}


def _beta_with_new_codes(upload: Callable[..., Any]) -> None:
    """Beta's new demographics: 15 participants coded ``Nonbinary`` (a common value) and 2 ``Other`` (rare)."""
    codes = ["Female"] * 20 + ["Male"] * 20 + ["Nonbinary"] * 15 + ["Other"] * 2
    lines = ["participant_id,session,age_months,gender"]
    lines += [f"B{i:03d},BAS,{300 + i},{code}" for i, code in enumerate(codes, start=1)]
    assert upload("beta", "\n".join(lines) + "\n", "demographics", kind="demographics")[1]["status"] == "succeeded"


def test_an_outdated_variable_names_no_rare_value_below_query(
    variables: ApiClient, upload: Callable[..., Any], api: Callable[..., ApiClient], tenant_a: Any
) -> None:
    _beta_with_new_codes(upload)
    exact = variables.post("/api/v1/federated/count", SEX_FEMALE)
    assert exact.status_code == 409 and exact.json()["error"]["code"] == "variable_outdated"
    assert exact.json()["error"]["details"]["problems"][0]["uncovered"] == ["Nonbinary", "Other"]
    for slug in ("alpha", "beta"):
        assert variables.post(f"/api/v1/studies/{slug}/defaults", {"level": "count"}).status_code == 201
    counter = api(tenant_a, "analyst")
    refused = counter.post("/api/v1/federated/count", SEX_FEMALE)
    assert refused.status_code == 409, refused.content
    error = refused.json()["error"]
    assert error["code"] == "variable_outdated" and error["details"]["study"] == "beta"
    assert "'Nonbinary'" in error["message"] and error["details"]["problems"][0]["uncovered"] == ["Nonbinary"]
    assert "Other" not in str(refused.json())  # two participants hold it
    # below the count level nothing of the study is resolved: the refusal is the level's, before any value
    assert variables.post("/api/v1/studies/beta/defaults", {"level": "metadata"}).status_code == 201
    for caller in (api(tenant_a, "analyst"), api(tenant_a, "viewer")):
        response = caller.post("/api/v1/federated/count", SEX_FEMALE)
        assert response.status_code == 403, response.content
        assert "Nonbinary" not in str(response.json()) and "Other" not in str(response.json())


def _clinical(upload: Callable[..., Any]) -> None:
    """Gov's ``clinical`` table: ``common`` (30 participants), ``usual`` (20), ``rare`` (3) and 7 without one."""
    lines = ["participant_id,session,diagnosis"]
    for i in range(1, 61):
        diagnosis = "common" if i <= 30 else "usual" if i <= 50 else "rare" if i <= 53 else ""
        lines.append(f"P{i:03d},BAS1,{diagnosis}")
    assert upload("gov", "\n".join(lines) + "\n", "clinical", kind="measure")[1]["status"] == "succeeded"


def _diagnosis(study: str) -> dict[str, Any]:
    source = {"study": study, "dataset": "clinical", "column": "diagnosis", "recode": {"common": "c"}}
    return {"name": "diagnosis", "type": "string", "sources": [source]}


def test_a_steward_capped_at_count_saves_against_the_protected_profile(
    gov: str, upload: Callable[..., Any], steward_api: ApiClient, cons_steward: ApiClient
) -> None:
    _clinical(upload)
    own = steward_api.post("/api/v1/variables", _diagnosis("gov"))  # the lab's steward reads every value
    assert own.status_code == 422 and own.json()["error"]["code"] == "recode_incomplete"
    assert own.json()["error"]["details"]["problems"][0]["uncovered"] == ["rare", "usual"]
    offer_and_accept(steward_api, cons_steward, "gov", "gov-h", level="count")
    capped = cons_steward.post("/api/v1/variables", _diagnosis("gov-h"))
    assert capped.status_code == 422, capped.content
    error = capped.json()["error"]
    assert error["code"] == "recode_incomplete" and "'usual'" in error["message"]
    assert error["details"]["problems"][0]["uncovered"] == ["usual"]
    assert "rare" not in str(capped.json()) and "distinct" not in str(capped.json())
    assert cons_steward.get("/api/v1/variables").json() == []  # nothing half-written
    covered = _diagnosis("gov-h")
    covered["sources"][0]["recode"]["usual"] = "u"
    saved = cons_steward.post("/api/v1/variables", covered)  # covers every value the steward's catalog lists
    assert saved.status_code == 201, saved.content
