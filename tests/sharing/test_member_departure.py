"""A consortium member who leaves keeps nothing a lab approved for them: their approved raises beyond the ceiling
end and their pending ones are withdrawn, and a lab cannot approve a request of someone who has left (409
``requester_not_member``). Before, the lab's approval after the removal created a live grant for the former member,
and an approval made before it kept lifting their ceiling: re-added later, they read above the ceiling without the
lab ever deciding again."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from access.models import Grant
from audit.models import AuditEvent
from sharing.models import CeilingRaise
from tests.plugins.sharing import error_code, grant_datasets, offer_and_accept

pytestmark = pytest.mark.django_db

COUNT = {"filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 43}]}
RUN = {**COUNT, "columns": {"cognitive": ["score"]}}


def test_a_member_who_leaves_the_consortium_keeps_no_raise(
    gov, steward_api, cons_steward, consortium, api, make_member
) -> None:
    cid = offer_and_accept(steward_api, cons_steward, "gov", "gov-m", level="count")
    path = f"/api/v1/contributions/{cid}/requests"
    kept, pending = api(consortium, "analyst"), api(consortium, "analyst")
    for member in (kept, pending):
        grant_datasets(cons_steward, member, "gov-m", "export")
    approved = kept.post(path, {"level": "query", "purpose": "pooled", "accept_terms": True}).json()["id"]
    assert steward_api.post(f"{path}/{approved}/approve").status_code == 200
    assert kept.post("/api/v1/studies/gov-m/queries", RUN).status_code == 202
    waiting = pending.post(path, {"level": "export", "purpose": "pooled", "accept_terms": True}).json()["id"]

    for member in (kept, pending):
        assert cons_steward.delete(f"/api/v1/members/{member.user.email}").status_code == 204

    # The lab cannot approve for someone who has left (their request was withdrawn with them); nothing is granted in
    # the consortium.
    late = steward_api.post(f"{path}/{waiting}/approve")
    assert late.status_code == 409 and error_code(late) == "requester_not_member"
    with tenant_context(consortium):
        assert not Grant.objects.filter(source=f"contribution_request:{waiting}").exists()
        events = set(AuditEvent.objects.filter(target_id=str(cid)).values_list("action", flat=True))
    connection.set_schema_to_public()
    assert {"contribution.raise_ended", "contribution.raise_withdrawn"} <= events
    statuses = {r.pk: r.effective_status for r in CeilingRaise.objects.filter(contribution_id=cid)}
    assert statuses == {approved: "revoked", waiting: "withdrawn"}

    # Re-added and granted export by the consortium: back at the ceiling, as anyone the lab never approved.
    for member in (kept, pending):
        invited = cons_steward.post("/api/v1/members", {"email": member.user.email, "role": "analyst"})
        assert invited.status_code == 201 and invited.json()["status"] == "member", invited.content
    again = api(consortium, user=kept.user)
    grant_datasets(cons_steward, again, "gov-m", "export")
    assert error_code(again.post("/api/v1/studies/gov-m/queries", RUN)) == "access_level_insufficient"
    assert again.post("/api/v1/studies/gov-m/count", COUNT).json()["perturbed"] is True
    listed = {r["id"]: r["status"] for r in steward_api.get(path).json()["items"]}
    assert listed == {approved: "revoked", waiting: "withdrawn"}
    # A new request may be made and decided (the closed ones are no pending request).
    fresh = again.post(path, {"level": "query", "purpose": "back", "accept_terms": True})
    assert fresh.status_code == 201, fresh.content
