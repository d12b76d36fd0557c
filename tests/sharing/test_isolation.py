"""Isolation stays total with sharing: the consortium reaches only what was contributed, the lab sees only the use of
its own contributions, and a third workspace learns nothing (every endpoint, every id-taking path)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.plugins.sharing import CONSORTIUM, error_code, offer_and_accept
from tests.plugins.studies import tag_identifying

pytestmark = pytest.mark.django_db

SPEC = {"filters": [{"dataset": "cognitive", "column": "score", "op": "gte", "value": 1}]}


def _paths(cid: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every contribution endpoint that takes an id."""
    return [
        ("get", f"/api/v1/contributions/{cid}", None),
        ("patch", f"/api/v1/contributions/{cid}", {"level": "count"}),
        ("delete", f"/api/v1/contributions/{cid}", None),
        ("get", f"/api/v1/contributions/{cid}/usage", None),
        ("post", f"/api/v1/contributions/{cid}/accept", {"slug": "stolen"}),
        ("post", f"/api/v1/contributions/{cid}/decline", None),
        ("get", f"/api/v1/contributions/{cid}/requests", None),
        ("post", f"/api/v1/contributions/{cid}/requests", {"level": "export", "purpose": "x", "accept_terms": True}),
        ("post", f"/api/v1/contributions/{cid}/requests/1/approve", None),
    ]


def _call(client: Any, method: str, path: str, body: dict[str, Any] | None) -> Any:
    if method in ("get", "delete"):
        return getattr(client, method)(path)
    return getattr(client, method)(path, body)


def test_a_third_workspace_learns_nothing(gov, steward_api, cons_steward, lab_b_memory, api, tenant_b) -> None:
    offered = steward_api.post("/api/v1/studies/gov/contributions", {"consortium": CONSORTIUM[0], "level": "query"})
    pending_id = offered.json()["id"]
    cid = offer_and_accept(lab_b_memory, cons_steward, "memory", "memory-b")
    third = api(tenant_b, "owner")  # lab B is a third party to lab A's offer
    assert [c["id"] for c in third.get("/api/v1/contributions").json()["items"]] == [cid]
    for method, path, body in _paths(pending_id):
        answer = _call(third, method, path, body)
        assert answer.status_code == 404, (method, path, answer.status_code)
        assert error_code(answer) == "not_found"
    for method, path, body in _paths(987654):  # an id that does not exist answers the same
        assert _call(third, method, path, body).status_code == 404, (method, path)
    # Offering to a workspace that is not a consortium says nothing about it.
    for target in ("lab-a", "no-such-workspace"):
        refused = lab_b_memory.post("/api/v1/studies/memory/contributions", {"consortium": target, "level": "count"})
        assert refused.status_code == 422 and error_code(refused) == "invalid_consortium"


def test_the_consortium_reaches_only_what_was_contributed(gov, study, steward_api, cons_steward, api, consortium):
    offer_and_accept(steward_api, cons_steward, "gov", "gov-d", datasets=["demographics"])
    member = api(consortium, "steward")
    assert [s["slug"] for s in member.get("/api/v1/studies").json()["items"]] == ["gov-d"]  # not "memory"
    assert member.get("/api/v1/studies/memory").status_code == 404
    names = [d["name"] for d in member.get("/api/v1/studies/gov-d/datasets").json()["items"]]
    assert names == ["demographics"]  # "cognitive" was not contributed
    assert member.get("/api/v1/studies/gov-d/datasets/cognitive").status_code == 404
    assert member.post("/api/v1/studies/gov-d/count", SPEC).status_code in (400, 404, 422)
    # The lab sees nothing of the consortium's studies.
    assert [s["slug"] for s in steward_api.get("/api/v1/studies").json()["items"]] == ["gov", "memory"]
    assert steward_api.get("/api/v1/studies/gov-d").status_code == 404


def test_each_side_does_only_its_part(gov, steward_api, cons_steward, api, consortium, tenant_a) -> None:
    offered = steward_api.post("/api/v1/studies/gov/contributions", {"consortium": CONSORTIUM[0], "level": "query"})
    cid = offered.json()["id"]
    # The lab cannot accept for the consortium, nor the consortium change or withdraw the lab's offer.
    assert error_code(steward_api.post(f"/api/v1/contributions/{cid}/accept", {"slug": "x"})) == "consortium_only"
    assert error_code(cons_steward.patch(f"/api/v1/contributions/{cid}", {"level": "export"})) == "contributor_only"
    assert error_code(cons_steward.delete(f"/api/v1/contributions/{cid}")) == "contributor_only"
    assert error_code(cons_steward.get(f"/api/v1/contributions/{cid}/usage")) == "contributor_only"
    # Analysts offer, accept and withdraw nothing.
    analyst = api(consortium, "analyst")
    assert analyst.post(f"/api/v1/contributions/{cid}/accept", {"slug": "x"}).status_code == 403
    lab_analyst = api(tenant_a, "analyst")
    assert (
        lab_analyst.post(
            "/api/v1/studies/gov/contributions", {"consortium": CONSORTIUM[0], "level": "query"}
        ).status_code
        == 403
    )
    assert lab_analyst.delete(f"/api/v1/contributions/{cid}").status_code == 403
    # Bad input: a clear code, nothing half-written.
    for body, code in (
        ({"consortium": CONSORTIUM[0], "level": "manage"}, "invalid_input"),
        ({"consortium": CONSORTIUM[0], "level": "count", "datasets": ["nope"]}, "unknown_dataset"),
    ):
        answer = steward_api.post("/api/v1/studies/gov/contributions", body)
        assert answer.status_code == 422 and error_code(answer) == code, answer.content
    bad_slug = cons_steward.post(f"/api/v1/contributions/{cid}/accept", {"slug": "Not A Slug"})
    assert bad_slug.status_code == 422 and error_code(bad_slug) == "invalid_slug"
    assert cons_steward.post(f"/api/v1/contributions/{cid}/decline").json()["status"] == "declined"
    again = cons_steward.post(f"/api/v1/contributions/{cid}/accept", {"slug": "gov-x"})
    assert again.status_code == 409 and error_code(again) == "contribution_not_offered"
    assert cons_steward.get("/api/v1/studies/gov-x").status_code == 404


def test_identifying_columns_stay_protected_in_the_consortium(
    gov, steward_api, cons_steward, api, consortium, tenant_a
):
    tag_identifying(tenant_a, "gov", "demographics", "name")
    offer_and_accept(steward_api, cons_steward, "gov", "gov-i")
    analyst = api(consortium, "analyst")
    for dataset in ("demographics", "cognitive"):
        made = cons_steward.post(
            f"/api/v1/studies/gov-i/datasets/{dataset}/grants", {"email": analyst.user.email, "level": "query"}
        )
        assert made.status_code == 201
    spec = {"filters": [], "columns": {"demographics": ["name"]}}
    refused = analyst.post("/api/v1/studies/gov-i/queries", spec)
    assert refused.status_code == 403 and error_code(refused) == "identifying_column"
