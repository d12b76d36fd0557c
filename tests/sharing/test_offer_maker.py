"""An offer to share a lab's study lives no longer than its maker's right to make it: once the steward who offered
it has left the lab, lost the steward role or had their account closed, the consortium can no longer accept it (409
``contribution_not_offered``, nothing mirrored) and the lab offers it again. Before, a steward leaving the lab (or
dismissed) left behind an offer the consortium could accept at any later time, sharing the lab's data."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.models import Study
from tenants.models import Membership, User
from tests.plugins.sharing import CONSORTIUM, error_code

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("loss", ["removed from the lab", "lowered to analyst", "account deactivated"])
def test_an_offer_dies_with_its_makers_right(gov, consortium, cons_steward, api, tenant_a, loss: str) -> None:
    owner, offerer = api(tenant_a, "owner"), api(tenant_a, "steward")
    offered = offerer.post("/api/v1/studies/gov/contributions", {"consortium": CONSORTIUM[0], "level": "count"})
    assert offered.status_code == 201, offered.content
    cid = offered.json()["id"]

    if loss == "removed from the lab":
        assert owner.delete(f"/api/v1/members/{offerer.user.email}").status_code == 204
    elif loss == "lowered to analyst":
        assert owner.patch(f"/api/v1/members/{offerer.user.email}", {"role": "analyst"}).status_code == 200
    else:
        User.objects.filter(pk=offerer.user.pk).update(is_active=False)
    connection.set_schema_to_public()

    refused = cons_steward.post(f"/api/v1/contributions/{cid}/accept", {"slug": "gov-m"})
    assert refused.status_code == 409 and error_code(refused) == "contribution_not_offered"
    assert "offer it again" in refused.json()["error"]["message"]
    with tenant_context(consortium):
        assert not Study.objects.filter(slug="gov-m").exists()  # nothing mirrored
    connection.set_schema_to_public()

    again = owner.post("/api/v1/studies/gov/contributions", {"consortium": CONSORTIUM[0], "level": "count"})
    assert again.status_code == 201, again.content  # the dead offer does not block a new one: it is withdrawn
    assert cons_steward.get(f"/api/v1/contributions/{cid}").json()["status"] == "withdrawn"
    accepted = cons_steward.post(f"/api/v1/contributions/{again.json()['id']}/accept", {"slug": "gov-m"})
    assert accepted.status_code == 200, accepted.content


def test_an_offer_whose_maker_is_still_a_steward_is_accepted(gov, cons_steward, api, tenant_a) -> None:
    offerer = api(tenant_a, "steward")
    Membership.objects.filter(tenant=tenant_a, user=offerer.user).update(role="owner")  # more rights: still may
    offered = offerer.post("/api/v1/studies/gov/contributions", {"consortium": CONSORTIUM[0], "level": "count"})
    assert offered.status_code == 201, offered.content
    accepted: Any = cons_steward.post(f"/api/v1/contributions/{offered.json()['id']}/accept", {"slug": "gov-k"})
    assert accepted.status_code == 200, accepted.content
