"""Cross-workspace access requests: the consortium's stewards decide up to the ceiling (accepting the contributor's
terms); beyond it the contributing lab's stewards, notified in their workspace, decide for that person only."""

from __future__ import annotations

import pytest

from tests.plugins.sharing import error_code, offer_and_accept

pytestmark = pytest.mark.django_db

RUN = {"filters": [], "columns": {"cognitive": ["score"]}}


def test_requests_up_to_and_beyond_the_ceiling(gov, steward_api, cons_steward, api, consortium, run_in) -> None:
    cid = offer_and_accept(steward_api, cons_steward, "gov", "gov-r", level="query", terms="Cite lab A.")
    member = api(consortium, "analyst")
    terms = member.get("/api/v1/studies/gov-r/terms").json()
    assert [t["text"] for t in terms] == ["Cite lab A."]  # the contributor's terms are the study's terms here
    ask = {"study": "gov-r", "datasets": ["demographics", "cognitive"], "level": "query", "purpose": "pooled"}
    assert error_code(member.post("/api/v1/access-requests", ask)) == "terms_not_accepted"
    within = member.post("/api/v1/access-requests", {**ask, "accept_terms": True})
    assert within.status_code == 201, within.content
    decided = cons_steward.post(
        f"/api/v1/access-requests/{within.json()['id']}/decision", {"decision": "approve", "level": "query"}
    )
    assert decided.status_code == 200, decided.content
    assert member.post("/api/v1/studies/gov-r/count", {"filters": []}).status_code == 200

    beyond = member.post("/api/v1/access-requests", {**ask, "level": "export", "accept_terms": True})
    assert beyond.status_code == 422 and error_code(beyond) == "beyond_ceiling"
    assert beyond.json()["error"]["details"]["contribution"] == cid

    path = f"/api/v1/contributions/{cid}/requests"
    no_terms = member.post(path, {"level": "export", "purpose": "pooled export"})
    assert no_terms.status_code == 422 and error_code(no_terms) == "terms_not_accepted"
    within_ceiling = member.post(path, {"level": "query", "purpose": "x", "accept_terms": True})
    assert error_code(within_ceiling) == "within_ceiling"
    asked = member.post(path, {"level": "export", "purpose": "pooled export", "accept_terms": True})
    assert asked.status_code == 201 and asked.json()["status"] == "pending", asked.content
    again = member.post(path, {"level": "export", "purpose": "again", "accept_terms": True})
    assert error_code(again) == "request_pending"

    # The lab's stewards are told in their workspace and decide; the consortium cannot.
    texts = [n["text"] for n in steward_api.get("/api/v1/notifications").json()["items"]]
    assert any(member.user.email in text and "export" in text for text in texts), texts
    listed = steward_api.get(path).json()["items"]
    assert [(r["user"], r["level"], r["status"]) for r in listed] == [(member.user.email, "export", "pending")]
    rid = asked.json()["id"]
    assert error_code(cons_steward.post(f"{path}/{rid}/approve")) == "contributor_only"
    approved = steward_api.post(f"{path}/{rid}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert error_code(steward_api.post(f"{path}/{rid}/deny")) == "request_decided"

    # That person may export now; someone else granted export in the consortium stays at the ceiling.
    other = api(consortium, "analyst")
    for dataset in ("demographics", "cognitive"):
        assert (
            cons_steward.post(
                f"/api/v1/studies/gov-r/datasets/{dataset}/grants", {"email": other.user.email, "level": "export"}
            ).status_code
            == 201
        )
    for who, allowed in ((member, True), (other, False)):
        run = who.post("/api/v1/studies/gov-r/queries", RUN)
        assert run.status_code == 202, run.content
        assert run_in(consortium, run.json()["id"]) == "succeeded"
        export = who.get(f"/api/v1/queries/{run.json()['id']}/export?format=csv&purpose=pooled")
        assert (export.status_code == 200) is allowed, export.content
