"""An approval beyond a contribution's ceiling may end, like an access request's approval: its expiry is checked at
every use, so once it has passed the person is back at the ceiling (their consortium grants stay capped)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from access.models import Grant
from sharing.models import CeilingRaise
from tests.plugins.sharing import error_code, offer_and_accept

pytestmark = pytest.mark.django_db

RUN = {"filters": [], "columns": {"cognitive": ["score"]}}


def test_an_expired_approval_beyond_the_ceiling_no_longer_grants(
    gov, steward_api, cons_steward, api, consortium
) -> None:
    cid = offer_and_accept(steward_api, cons_steward, "gov", "gov-x", level="count")
    member = api(consortium, "analyst")
    for dataset in ("demographics", "cognitive"):  # export in the consortium, capped at count by the ceiling
        granted = cons_steward.post(
            f"/api/v1/studies/gov-x/datasets/{dataset}/grants", {"email": member.user.email, "level": "export"}
        )
        assert granted.status_code == 201, granted.content
    assert error_code(member.post("/api/v1/studies/gov-x/queries", RUN)) == "access_level_insufficient"
    path = f"/api/v1/contributions/{cid}/requests"
    rid = member.post(path, {"level": "query", "purpose": "pooled analysis", "accept_terms": True}).json()["id"]

    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    refused = steward_api.post(f"{path}/{rid}/approve", {"expires_at": past})
    assert refused.status_code == 422 and error_code(refused) == "invalid_expiry"
    assert steward_api.post(f"{path}/{rid}/approve", {"expires_at": "next week"}).status_code == 422
    assert CeilingRaise.objects.get(pk=rid).status == "pending"  # nothing half-decided

    until = timezone.now() + timedelta(hours=2)
    approved = steward_api.post(f"{path}/{rid}/approve", {"expires_at": until.isoformat()})
    assert approved.status_code == 200, approved.content
    body = approved.json()
    assert body["status"] == "approved" and body["expires_at"] == until.isoformat()
    with tenant_context(consortium):
        grant = Grant.objects.get(source=f"contribution_request:{rid}")
        assert grant.expires_at == until and grant.level == "query"
    assert member.post("/api/v1/studies/gov-x/queries", RUN).status_code == 202

    # The expiry passes. Even with the lab's grant still live, the lifted ceiling ends at that moment.
    CeilingRaise.objects.filter(pk=rid).update(granted_expires_at=timezone.now() - timedelta(seconds=1))
    assert error_code(member.post("/api/v1/studies/gov-x/queries", RUN)) == "access_level_insufficient"
    assert member.post("/api/v1/studies/gov-x/count", {"filters": []}).status_code == 200  # the ceiling still holds
    assert [r["status"] for r in member.get(path).json()["items"]] == ["expired"]
    # A new request may be made and decided again (the expired one is no pending request).
    again = member.post(path, {"level": "query", "purpose": "pooled analysis, renewed", "accept_terms": True})
    assert again.status_code == 201, again.content


def test_an_approval_without_expiry_and_a_denial_keep_none(gov, steward_api, cons_steward, api, consortium) -> None:
    cid = offer_and_accept(steward_api, cons_steward, "gov", "gov-y", level="count")
    path = f"/api/v1/contributions/{cid}/requests"
    first, second = api(consortium, "analyst"), api(consortium, "analyst")
    one = first.post(path, {"level": "query", "purpose": "a", "accept_terms": True}).json()["id"]
    two = second.post(path, {"level": "query", "purpose": "b", "accept_terms": True}).json()["id"]
    assert steward_api.post(f"{path}/{one}/approve").json()["expires_at"] is None  # no body: as before
    denied = steward_api.post(f"{path}/{two}/deny", {"expires_at": (timezone.now() + timedelta(days=1)).isoformat()})
    assert denied.json()["status"] == "denied" and denied.json()["expires_at"] is None


def test_the_console_approves_until_a_day(gov, steward_api, cons_steward, api, consortium, page_client, tenant_a):
    cid = offer_and_accept(steward_api, cons_steward, "gov", "gov-z", level="count")
    path = f"/api/v1/contributions/{cid}/requests"
    member = api(consortium, "analyst")
    rid = member.post(path, {"level": "query", "purpose": "a", "accept_terms": True}).json()["id"]
    lab = page_client(tenant_a, "steward")
    page = lab.get("/console/sharing/")
    assert 'name="expires_at"' in page.content.decode()
    bad = lab.post(f"/console/sharing/{cid}/requests/{rid}/", {"decision": "approve", "expires_at": "2001-01-01"})
    assert bad.status_code == 302 and CeilingRaise.objects.get(pk=rid).status == "pending"  # the past: refused
    day = (timezone.now() + timedelta(days=30)).date()
    lab.post(f"/console/sharing/{cid}/requests/{rid}/", {"decision": "approve", "expires_at": day.isoformat()})
    decided = CeilingRaise.objects.get(pk=rid)
    assert decided.status == "approved" and timezone.localtime(decided.granted_expires_at).date() == day


def test_an_approval_never_holds_a_person_below_a_later_ceiling(
    gov, steward_api, cons_steward, api, consortium
) -> None:
    """The lab approved someone above the ceiling, then raised the ceiling past that approval: the approval is
    superseded and the person gets the new ceiling like everyone else (it never holds them below it)."""
    cid = offer_and_accept(steward_api, cons_steward, "gov", "gov-w", level="count")
    member = api(consortium, "analyst")
    for dataset in ("demographics", "cognitive"):
        granted = cons_steward.post(
            f"/api/v1/studies/gov-w/datasets/{dataset}/grants", {"email": member.user.email, "level": "export"}
        )
        assert granted.status_code == 201, granted.content
    path = f"/api/v1/contributions/{cid}/requests"
    rid = member.post(path, {"level": "query", "purpose": "pooled", "accept_terms": True}).json()["id"]
    assert steward_api.post(f"{path}/{rid}/approve").status_code == 200
    run = member.post("/api/v1/studies/gov-w/queries", RUN)
    assert run.status_code == 202, run.content
    assert steward_api.patch(f"/api/v1/contributions/{cid}", {"level": "export"}).status_code == 200
    explained = member.get(f"/api/v1/access/explain?email={member.user.email}&study=gov-w&dataset=cognitive").json()
    assert explained["level"] == "export", explained


def test_the_lab_ends_an_approval_it_gave(gov, steward_api, cons_steward, api, consortium) -> None:
    """An approval beyond the ceiling without an expiry ends when the lab says so (``revoke``): the person is back at
    the ceiling at their next request, the grant it made in the consortium is revoked, and a later consortium grant
    no longer lifts them. Before, the lab had no way to end it short of withdrawing the whole study, and revoking
    the consortium's grant alone left the lifted ceiling for any later grant to use."""
    cid = offer_and_accept(steward_api, cons_steward, "gov", "gov-v", level="count")
    member = api(consortium, "analyst")
    path = f"/api/v1/contributions/{cid}/requests"
    rid = member.post(path, {"level": "query", "purpose": "pooled", "accept_terms": True}).json()["id"]
    assert cons_steward.post(f"{path}/{rid}/revoke").status_code == 403  # the consortium cannot
    assert steward_api.post(f"{path}/{rid}/revoke").status_code == 409  # pending: nothing to end
    assert steward_api.post(f"{path}/{rid}/approve").status_code == 200
    assert member.post("/api/v1/studies/gov-v/queries", RUN).status_code == 202

    ended = steward_api.post(f"{path}/{rid}/revoke")
    assert ended.status_code == 200, ended.content
    assert ended.json()["status"] == "revoked"
    assert error_code(member.post("/api/v1/studies/gov-v/queries", RUN)) == "access_level_insufficient"
    with tenant_context(consortium):
        assert Grant.objects.get(source=f"contribution_request:{rid}").revoked_at is not None
    for dataset in ("demographics", "cognitive"):  # a later consortium grant stays under the ceiling
        granted = cons_steward.post(
            f"/api/v1/studies/gov-v/datasets/{dataset}/grants", {"email": member.user.email, "level": "export"}
        )
        assert granted.status_code == 201, granted.content
    assert error_code(member.post("/api/v1/studies/gov-v/queries", RUN)) == "access_level_insufficient"
    again = steward_api.post(f"{path}/{rid}/revoke")
    assert again.status_code == 409 and error_code(again) == "request_decided"
    assert steward_api.get("/api/v1/audit?action=contribution.raise_revoked").json()["total"] == 1
