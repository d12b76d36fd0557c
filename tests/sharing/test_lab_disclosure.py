"""A lab's disclosure control follows its study into a consortium. Before, the consortium applied only its own
settings to the lab's data (its owner could set k to 1 and the noise to its minimum on a study the lab shared at the
count ceiling), the lab's own threshold for the study was not carried over, and the same participants got
independent noise in the lab and in every consortium, so averaging answers across workspaces cancelled it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection

from tests.plugins.sharing import offer_and_accept

pytestmark = pytest.mark.django_db


def _spec(limit: int) -> dict[str, Any]:
    return {"filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": limit}]}


def _count_member(api: Any, granter: Any, tenant: Any, study: str) -> Any:
    member = api(tenant, "analyst")
    for dataset in ("demographics", "cognitive"):
        granted = granter.post(
            f"/api/v1/studies/{study}/datasets/{dataset}/grants", {"email": member.user.email, "level": "count"}
        )
        assert granted.status_code == 201, granted.content
    connection.set_schema_to_public()
    return member


def test_the_consortium_cannot_loosen_the_labs_disclosure_control(
    gov, steward_api, consortium, cons_steward, api, tenant_a
) -> None:
    lab_owner = api(tenant_a, "owner")
    lab = {"suppression_threshold": 12, "disclosure_max_noise": 4, "disclosure_noise_variance": 3.0}
    assert lab_owner.patch("/api/v1/settings", lab).status_code == 200
    assert steward_api.patch("/api/v1/studies/gov", {"suppression_threshold": 15}).status_code == 200
    offer_and_accept(steward_api, cons_steward, "gov", "gov-a", level="count")
    cons_owner = api(consortium, "owner")
    loose = {"suppression_threshold": 1, "disclosure_max_noise": 1, "disclosure_noise_variance": 0.5}
    assert cons_owner.patch("/api/v1/settings", loose).status_code == 200
    connection.set_schema_to_public()
    member = _count_member(api, cons_steward, consortium, "gov-a")

    answer = member.post("/api/v1/studies/gov-a/count", _spec(30)).json()
    assert answer["perturbed"] is True
    assert answer["threshold"] == 15  # the lab's study threshold, above the lab's workspace and the consortium's
    assert answer["max_noise"] == 4  # the lab's D, not the consortium's 1
    small = member.post("/api/v1/studies/gov-a/count", _spec(8)).json()
    assert small["suppressed"] is True and small["participants"] is None

    # Stricter than the lab is the consortium's right.
    strict = {"suppression_threshold": 20, "disclosure_max_noise": 6, "disclosure_noise_variance": 4.0}
    assert cons_owner.patch("/api/v1/settings", strict).status_code == 200
    connection.set_schema_to_public()
    stricter = member.post("/api/v1/studies/gov-a/count", _spec(30)).json()
    assert (stricter["threshold"], stricter["max_noise"]) == (20, 6)


def test_the_same_participants_get_the_same_noise_in_the_lab_and_the_consortium(
    gov, steward_api, consortium, cons_steward, api, analyst_at
) -> None:
    in_lab = analyst_at("count")
    offer_and_accept(steward_api, cons_steward, "gov", "gov-a", level="count")
    connection.set_schema_to_public()
    in_consortium = _count_member(api, cons_steward, consortium, "gov-a")
    seen = []
    for limit in (20, 26, 33, 40, 47, 55):
        here = in_lab.post("/api/v1/studies/gov/count", _spec(limit)).json()
        there = in_consortium.post("/api/v1/studies/gov-a/count", _spec(limit)).json()
        assert here["perturbed"] is True and there["perturbed"] is True
        seen.append((here["participants"], there["participants"]))
    assert all(a == b for a, b in seen), seen  # one noise per set of participants: nothing to average


def test_consortium_stewards_see_run_sizes_at_the_ceiling(
    gov, steward_api, consortium, cons_steward, page_client, run_in
) -> None:
    """The runs list showed stewards and owners every run's exact row count, on a contributed study too, whose
    ceiling caps them like anyone: after the lab lowers it to count, they see the protected number the API shows."""
    cid = offer_and_accept(steward_api, cons_steward, "gov", "gov-a", level="query")
    run = cons_steward.post("/api/v1/studies/gov-a/queries", {**_spec(43), "columns": {"cognitive": ["score"]}})
    assert run.status_code == 202, run.content
    run_id = run.json()["id"]
    assert run_in(consortium, run_id) == "succeeded"
    assert steward_api.patch(f"/api/v1/contributions/{cid}", {"level": "count"}).status_code == 200
    connection.set_schema_to_public()

    shown_by_api = cons_steward.get(f"/api/v1/queries/{run_id}").json()["row_count"]
    page = page_client(consortium, "steward").get("/queries/runs/").content.decode()
    row = re.search(rf'<tr data-run="{run_id}">(.*?)</tr>', page, re.S)
    assert row is not None, page
    rows_cell = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)[3]
    expected = "—" if shown_by_api is None else f"{shown_by_api:,}"
    assert expected in rows_cell, (rows_cell, shown_by_api)
