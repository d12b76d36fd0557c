"""An offer to share a lab's study lives no longer than its maker's right to make it: once the steward who offered
it has left the lab, lost the steward role or had their account closed, the consortium can no longer accept it (409
``contribution_not_offered``, nothing mirrored) and the lab offers it again. Before, a steward leaving the lab (or
dismissed) left behind an offer the consortium could accept at any later time, sharing the lab's data."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from datasets.models import Study
from tenants.models import Membership, User
from tests.plugins.sharing import CONSORTIUM, error_code

pytestmark = pytest.mark.django_db


def _offer(offerer: Any) -> int:
    offered = offerer.post("/api/v1/studies/gov/contributions", {"consortium": CONSORTIUM[0], "level": "count"})
    assert offered.status_code == 201, offered.content
    return int(offered.json()["id"])


def _accept_refused(cons_steward: Any, consortium: Any, cid: int) -> str:
    refused = cons_steward.post(f"/api/v1/contributions/{cid}/accept", {"slug": "gov-m"})
    assert refused.status_code == 409 and error_code(refused) == "contribution_not_offered"
    with tenant_context(consortium):
        assert not Study.objects.filter(slug="gov-m").exists()  # nothing mirrored
    connection.set_schema_to_public()
    return str(refused.json()["error"]["message"])


def _offer_again_and_accept(owner: Any, cons_steward: Any) -> None:
    again = owner.post("/api/v1/studies/gov/contributions", {"consortium": CONSORTIUM[0], "level": "count"})
    assert again.status_code == 201, again.content
    accepted = cons_steward.post(f"/api/v1/contributions/{again.json()['id']}/accept", {"slug": "gov-m"})
    assert accepted.status_code == 200, accepted.content


@pytest.mark.parametrize(
    ("loss", "reason"), [("removed from the lab", "offerer_removed"), ("lowered to analyst", "offerer_role_changed")]
)
def test_an_offer_is_withdrawn_when_its_maker_leaves_or_is_lowered(
    gov, consortium, cons_steward, api, tenant_a, loss: str, reason: str
) -> None:
    """Removal and role change end the maker's pending offers in the same transaction: both sides see them
    withdrawn at once (not an offer the consortium can no longer accept), audited with the reason in the lab's
    chain."""
    owner, offerer = api(tenant_a, "owner"), api(tenant_a, "steward")
    cid = _offer(offerer)

    if loss == "removed from the lab":
        assert owner.delete(f"/api/v1/members/{offerer.user.email}").status_code == 204
    else:
        assert owner.patch(f"/api/v1/members/{offerer.user.email}", {"role": "analyst"}).status_code == 200
    connection.set_schema_to_public()

    assert cons_steward.get(f"/api/v1/contributions/{cid}").json()["status"] == "withdrawn"
    listed = {c["id"]: c["status"] for c in owner.get("/api/v1/contributions").json()["items"]}
    assert listed[cid] == "withdrawn"
    with tenant_context(tenant_a):
        event = AuditEvent.objects.filter(action="contribution.withdrawn", target_id=str(cid)).get()
        assert event.details["reason"] == reason and event.actor_id == owner.user.pk
    connection.set_schema_to_public()
    assert "withdrawn" in _accept_refused(cons_steward, consortium, cid)
    _offer_again_and_accept(owner, cons_steward)


def test_only_the_makers_offers_are_withdrawn(gov, consortium, cons_steward, api, tenant_a) -> None:
    owner, leaving, staying = api(tenant_a, "owner"), api(tenant_a, "steward"), api(tenant_a, "steward")
    cid = _offer(staying)
    assert owner.delete(f"/api/v1/members/{leaving.user.email}").status_code == 204
    assert owner.patch(f"/api/v1/members/{staying.user.email}", {"role": "owner"}).status_code == 200
    connection.set_schema_to_public()
    assert cons_steward.get(f"/api/v1/contributions/{cid}").json()["status"] == "offered"
    accepted = cons_steward.post(f"/api/v1/contributions/{cid}/accept", {"slug": "gov-m"})
    assert accepted.status_code == 200, accepted.content


def test_an_offer_whose_maker_lost_the_right_otherwise_cannot_be_accepted(
    gov, consortium, cons_steward, api, tenant_a
) -> None:
    """A right lost without a membership change (an account closed, an operator's edit) is checked when the offer
    is accepted: 409 ``contribution_not_offered``, nothing mirrored; a new offer withdraws the dead one."""
    owner, offerer = api(tenant_a, "owner"), api(tenant_a, "steward")
    cid = _offer(offerer)
    User.objects.filter(pk=offerer.user.pk).update(is_active=False)
    connection.set_schema_to_public()
    assert "offer it again" in _accept_refused(cons_steward, consortium, cid)
    _offer_again_and_accept(owner, cons_steward)
    assert cons_steward.get(f"/api/v1/contributions/{cid}").json()["status"] == "withdrawn"
    with tenant_context(tenant_a):
        event = AuditEvent.objects.filter(action="contribution.withdrawn", target_id=str(cid)).get()
        assert event.details["reason"] == "offerer_gone"
    connection.set_schema_to_public()


def test_an_offer_whose_maker_is_still_a_steward_is_accepted(gov, cons_steward, api, tenant_a) -> None:
    offerer = api(tenant_a, "steward")
    Membership.objects.filter(tenant=tenant_a, user=offerer.user).update(role="owner")  # more rights: still may
    offered = offerer.post("/api/v1/studies/gov/contributions", {"consortium": CONSORTIUM[0], "level": "count"})
    assert offered.status_code == 201, offered.content
    accepted: Any = cons_steward.post(f"/api/v1/contributions/{offered.json()['id']}/accept", {"slug": "gov-k"})
    assert accepted.status_code == 200, accepted.content
