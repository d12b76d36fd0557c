"""The sharing pages: a lab's steward offers, changes the ceiling, withdraws and reads the usage report; the
consortium's steward accepts; members see the consortium's contributing labs, studies and terms."""

from __future__ import annotations

import pytest

from tests.plugins.sharing import CONSORTIUM, error_code, offer_and_accept

pytestmark = pytest.mark.django_db


def test_offer_accept_ceiling_withdraw_through_the_pages(gov, page_client, tenant_a, consortium, api) -> None:
    lab = page_client(tenant_a, "steward")
    cons = page_client(consortium, "steward")
    member = page_client(consortium, "analyst")

    page = lab.get("/console/sharing/")
    assert page.status_code == 200 and CONSORTIUM[1] in page.content.decode()
    offered = lab.post(
        "/console/sharing/offer/",
        {"study": "gov", "consortium": CONSORTIUM[0], "level": "query", "follow": "latest", "terms": "Cite lab A."},
    )
    assert offered.status_code == 302
    assert "offered" in lab.get("/sharing/").content.decode()
    home = cons.get("/sharing/").content.decode()
    assert "Pending offers" in home and "Gov" in home and "Lab A" in home
    cid = api(consortium, "steward").get("/api/v1/contributions").json()["items"][0]["id"]

    assert member.post(f"/console/sharing/{cid}/accept/", {"slug": "gov-p"}).status_code == 403
    assert cons.post(f"/console/sharing/{cid}/accept/", {"slug": "gov-p"}).status_code == 302
    listing = member.get("/sharing/").content.decode()
    assert 'href="/studies/gov-p/"' in listing and "Cite lab A." in listing and "Lab A" in listing
    assert member.get("/studies/gov-p/").status_code == 200  # an ordinary study page

    # The lab's console: the ceiling and withdrawal; the consortium cannot do either.
    assert cons.post(f"/console/sharing/{cid}/level/", {"level": "export"}).status_code == 302
    assert lab.post(f"/console/sharing/{cid}/level/", {"level": "count"}).status_code == 302
    contribution = api(tenant_a, "steward").get(f"/api/v1/contributions/{cid}").json()
    assert contribution["level"] == "count"
    usage = lab.get(f"/console/sharing/{cid}/usage/")
    assert usage.status_code == 200 and "has not used this study yet" in usage.content.decode()
    assert cons.get(f"/console/sharing/{cid}/usage/").status_code == 403
    assert lab.post(f"/console/sharing/{cid}/withdraw/").status_code == 302
    assert member.get("/studies/gov-p/").status_code == 403
    assert "Withdrawn or declined" in member.get("/sharing/").content.decode()


def test_console_pages_are_for_stewards_and_ids_of_others_are_404(gov, page_client, tenant_a, tenant_b, consortium):
    analyst = page_client(tenant_a, "analyst")
    assert analyst.get("/console/sharing/").status_code == 403
    assert analyst.get("/sharing/").status_code == 200
    lab = page_client(tenant_a, "steward")
    lab.post("/console/sharing/offer/", {"study": "gov", "consortium": CONSORTIUM[0], "level": "count"})
    from sharing.models import Contribution

    cid = Contribution.objects.get(lab=tenant_a, status="offered").pk
    third = page_client(tenant_b, "steward")
    for path in (f"/console/sharing/{cid}/usage/",):
        assert third.get(path).status_code == 404
    for action in ("accept", "decline", "level", "withdraw"):
        assert third.post(f"/console/sharing/{cid}/{action}/", {"slug": "x", "level": "count"}).status_code == 404
    assert third.post(f"/console/sharing/{cid}/requests/1/", {"decision": "approve"}).status_code == 404


def test_the_lab_ends_an_approval_beyond_the_ceiling_from_its_console(
    gov, page_client, tenant_a, consortium, api, steward_api, cons_steward
) -> None:
    """The lab's console lists the approvals it gave (not the pending ones, not the ended ones); "End approval"
    puts the person back at the ceiling at their next request; the consortium's steward is refused."""
    cid = offer_and_accept(steward_api, cons_steward, "gov", "gov-e", level="count")
    member = api(consortium, "analyst")
    path = f"/api/v1/contributions/{cid}/requests"
    rid = member.post(path, {"level": "query", "purpose": "pooled", "accept_terms": True}).json()["id"]
    lab = page_client(tenant_a, "steward")
    console = lab.get("/console/sharing/").content.decode()
    assert f'data-raise="{rid}"' in console and f'data-approved="{rid}"' not in console  # pending, not approved
    assert steward_api.post(f"{path}/{rid}/approve").status_code == 200
    console = lab.get("/console/sharing/").content.decode()
    assert f'data-approved="{rid}"' in console and "until ended" in console
    run = {"filters": [], "columns": {"cognitive": ["score"]}}
    assert member.post("/api/v1/studies/gov-e/queries", run).status_code == 202  # query level: above the ceiling

    cons = page_client(consortium, "steward")
    refused = cons.post(f"/console/sharing/{cid}/requests/{rid}/", {"decision": "revoke"}, follow=True)
    assert "Only the contributing lab ends its approvals." in refused.content.decode()
    assert member.post("/api/v1/studies/gov-e/queries", run).status_code == 202  # still approved
    ended = lab.post(f"/console/sharing/{cid}/requests/{rid}/", {"decision": "revoke"})
    assert ended.status_code == 302
    assert "Approval ended" in lab.get("/console/sharing/").content.decode()
    assert f'data-approved="{rid}"' not in lab.get("/console/sharing/").content.decode()
    assert error_code(member.post("/api/v1/studies/gov-e/queries", run)) == "access_level_insufficient"
    assert steward_api.get(f"{path}").json()["items"][0]["status"] == "revoked"
