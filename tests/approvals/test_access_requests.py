"""Access requests over the API: create, queue, decide, withdraw, renew, terms of use, notifications, bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from access.models import Grant
from approvals.models import AccessRequest
from audit.models import AuditEvent
from datasets.models import Study
from tests.approvals.conftest import level_of

pytestmark = pytest.mark.django_db


def _code(response) -> str:
    return response.json()["error"]["code"]


def _actions(tenant) -> list[str]:
    with schema_context(tenant.schema_name):
        return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def _request(client, **overrides):
    payload = {"study": "gov", "datasets": ["cognitive"], "level": "query", "purpose": "Memory and age."}
    payload.update(overrides)
    return client.post("/api/v1/access-requests", payload)


def test_request_queue_and_visibility(gov_study, clients) -> None:
    created = _request(clients["analyst"])
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "pending" and body["datasets"] == ["cognitive"] and body["level"] == "query"
    assert body["requester"] == clients["analyst"].user.email and body["grants"] == []
    queue = clients["steward"].get("/api/v1/access-requests?status=pending").json()
    assert [item["id"] for item in queue["items"]] == [body["id"]]
    assert clients["steward"].get("/api/v1/access-requests?mine=true").json()["total"] == 0
    assert clients["analyst"].get("/api/v1/access-requests").json()["total"] == 1
    assert clients["other"].get("/api/v1/access-requests").json()["total"] == 0
    assert clients["other"].get(f"/api/v1/access-requests/{body['id']}").status_code == 404
    assert clients["owner"].get(f"/api/v1/access-requests/{body['id']}").status_code == 200
    bad_filter = clients["steward"].get("/api/v1/access-requests?status=bogus")
    assert bad_filter.status_code == 422 and _code(bad_filter) == "invalid_status"
    # Stewards are told about the new request in-app.
    notices = clients["steward"].get("/api/v1/notifications?unread=true").json()["items"]
    assert any(n["kind"] == "access_request.created" for n in notices)
    again = _request(clients["analyst"])
    assert again.status_code == 409 and _code(again) == "request_pending"


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"datasets": ["nope"]}, 422, "unknown_dataset"),
        ({"datasets": []}, 422, "invalid_input"),
        ({"level": "superpowers"}, 422, "invalid_level"),
        ({"level": "manage"}, 422, "invalid_level"),
        ({"level": "metadata"}, 422, "invalid_level"),
        ({"purpose": "   "}, 422, "invalid_purpose"),
        ({"study": "no-such-study"}, 404, "not_found"),
    ],
)
def test_bad_requests(gov_study, clients, overrides, status, code) -> None:
    response = _request(clients["analyst"], **overrides)
    assert response.status_code == status, response.content
    assert _code(response) == code


def test_who_may_request(gov_study, clients) -> None:
    viewer = _request(clients["viewer"])
    assert viewer.status_code == 403 and _code(viewer) == "role_insufficient"
    steward = _request(clients["steward"])
    assert steward.status_code == 409 and _code(steward) == "already_has_access"


def test_a_foreign_tenants_study_and_requests_are_404(gov_study, clients, api, tenant_b) -> None:
    foreign = api(tenant_b, "steward")
    assert _request(foreign).status_code == 404  # gov exists only in lab A
    mine = _request(clients["analyst"]).json()
    assert foreign.get(f"/api/v1/access-requests/{mine['id']}").status_code == 404
    decided = foreign.post(f"/api/v1/access-requests/{mine['id']}/decision", {"decision": "deny", "reason": "x"})
    assert decided.status_code == 404
    assert (
        clients["steward"]
        .post("/api/v1/access-requests/999999/decision", {"decision": "deny", "reason": "x"})
        .status_code
        == 404
    )
    assert clients["analyst"].post("/api/v1/access-requests/999999/withdraw").status_code == 404
    assert foreign.get("/api/v1/studies/gov/terms").status_code == 404


def test_terms_of_use_are_versioned_and_must_be_accepted(gov_study, clients) -> None:
    assert clients["steward"].get("/api/v1/studies/gov/terms").json() == []
    denied = clients["analyst"].post("/api/v1/studies/gov/terms", {"text": "No re-identification."})
    assert denied.status_code == 403
    empty = clients["steward"].post("/api/v1/studies/gov/terms", {"text": "  "})
    assert empty.status_code == 422 and _code(empty) == "invalid_terms"
    first = clients["steward"].post("/api/v1/studies/gov/terms", {"text": "No re-identification."})
    assert first.status_code == 201 and first.json()["version"] == 1
    second = clients["owner"].post("/api/v1/studies/gov/terms", {"text": "No re-identification. Cite the study."})
    assert second.json()["version"] == 2
    versions = clients["analyst"].get("/api/v1/studies/gov/terms").json()
    assert [(v["version"], v["current"]) for v in versions] == [(2, True), (1, False)]
    refused = _request(clients["analyst"])
    assert refused.status_code == 422 and _code(refused) == "terms_not_accepted"
    accepted = _request(clients["analyst"], accept_terms=True)
    assert accepted.status_code == 201 and accepted.json()["terms_version"] == 2
    assert accepted.json()["accepted_terms_at"] is not None
    assert "dua.created" in _actions(clients["owner"].user.memberships.first().tenant)


def test_approval_at_a_lower_level_with_expiry_grants_and_notifies(
    gov_study, clients, tenant_a, django_capture_on_commit_callbacks
) -> None:
    analyst = clients["analyst"]
    assert level_of(tenant_a, analyst.user, "gov", "cognitive") == "metadata"
    created = _request(analyst, datasets=["cognitive", "demographics"]).json()
    expires = timezone.now() + timedelta(days=30)
    higher = clients["steward"].post(
        f"/api/v1/access-requests/{created['id']}/decision", {"decision": "approve", "level": "export"}
    )
    assert higher.status_code == 422 and _code(higher) == "invalid_level"
    past = clients["steward"].post(
        f"/api/v1/access-requests/{created['id']}/decision",
        {"decision": "approve", "expires_at": (timezone.now() - timedelta(hours=1)).isoformat()},
    )
    assert past.status_code == 422 and _code(past) == "invalid_expiry"
    by_analyst = clients["other"].post(f"/api/v1/access-requests/{created['id']}/decision", {"decision": "approve"})
    assert by_analyst.status_code == 403 and _code(by_analyst) == "role_insufficient"  # role first, as the matrix
    by_requester = analyst.post(f"/api/v1/access-requests/{created['id']}/decision", {"decision": "approve"})
    assert by_requester.status_code == 403 and _code(by_requester) == "role_insufficient"
    with django_capture_on_commit_callbacks(execute=True):
        approved = clients["steward"].post(
            f"/api/v1/access-requests/{created['id']}/decision",
            {"decision": "approve", "level": "count", "expires_at": expires.isoformat(), "reason": "Counts first."},
        )
    assert approved.status_code == 200, approved.content
    body = approved.json()
    assert body["status"] == "approved" and body["granted_level"] == "count"
    assert body["decided_by"] == clients["steward"].user.email and body["decision_reason"] == "Counts first."
    assert sorted(g["dataset"] for g in body["grants"]) == ["cognitive", "demographics"]
    assert all(g["level"] == "count" for g in body["grants"])
    assert level_of(tenant_a, analyst.user, "gov", "cognitive") == "count"
    assert level_of(tenant_a, clients["other"].user, "gov", "cognitive") == "metadata"
    with tenant_context(tenant_a):
        assert Grant.objects.filter(source=f"access_request:{created['id']}").count() == 2
    connection.set_schema_to_public()
    actions = _actions(tenant_a)
    assert "access_request.created" in actions and "access_request.approved" in actions
    assert actions.count("grant.created") >= 2
    notices = analyst.get("/api/v1/notifications").json()["items"]
    assert notices[0]["kind"] == "access_request.approved" and "approved" in notices[0]["text"]
    assert any(m.to == [analyst.user.email] and "approved" in m.subject for m in mail.outbox)
    twice = clients["owner"].post(
        f"/api/v1/access-requests/{created['id']}/decision", {"decision": "deny", "reason": "no"}
    )
    assert twice.status_code == 409 and _code(twice) == "already_decided"


def test_denial_needs_a_reason_and_notifies(gov_study, clients, tenant_a) -> None:
    created = _request(clients["analyst"]).json()
    url = f"/api/v1/access-requests/{created['id']}/decision"
    no_reason = clients["steward"].post(url, {"decision": "deny", "reason": "  "})
    assert no_reason.status_code == 422 and _code(no_reason) == "reason_required"
    bad = clients["steward"].post(url, {"decision": "maybe", "reason": "x"})
    assert bad.status_code == 422
    denied = clients["steward"].post(url, {"decision": "deny", "reason": "Purpose is too vague."})
    assert denied.status_code == 200 and denied.json()["status"] == "denied" and denied.json()["grants"] == []
    assert level_of(tenant_a, clients["analyst"].user, "gov", "cognitive") == "metadata"
    notice = clients["analyst"].get("/api/v1/notifications").json()["items"][0]
    assert "Purpose is too vague." in notice["text"]
    assert "access_request.denied" in _actions(tenant_a)


def test_withdraw(gov_study, clients, tenant_a) -> None:
    created = _request(clients["analyst"]).json()
    url = f"/api/v1/access-requests/{created['id']}/withdraw"
    by_steward = clients["steward"].post(url)
    assert by_steward.status_code == 403 and _code(by_steward) == "not_requester"
    assert clients["other"].post(url).status_code == 404
    withdrawn = clients["analyst"].post(url)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert clients["analyst"].post(url).status_code == 409
    late = clients["steward"].post(f"/api/v1/access-requests/{created['id']}/decision", {"decision": "approve"})
    assert late.status_code == 409
    assert "access_request.withdrawn" in _actions(tenant_a)


def test_expiry_takes_effect_at_use_and_renewal_before_expiry(gov_study, clients, tenant_a) -> None:
    analyst = clients["analyst"]
    created = _request(analyst).json()
    soon = timezone.now() + timedelta(days=2)
    clients["steward"].post(
        f"/api/v1/access-requests/{created['id']}/decision", {"decision": "approve", "expires_at": soon.isoformat()}
    )
    assert level_of(tenant_a, analyst.user, "gov", "cognitive") == "query"
    renewal = analyst.post(f"/api/v1/access-requests/{created['id']}/renew", {"accept_terms": True})
    assert renewal.status_code == 201, renewal.content
    renewed = renewal.json()
    assert renewed["renewal_of"] == created["id"] and renewed["purpose"] == created["purpose"]
    assert renewed["level"] == "query" and renewed["status"] == "pending"
    twice = analyst.post(f"/api/v1/access-requests/{created['id']}/renew", {"accept_terms": True})
    assert twice.status_code == 409
    later = timezone.now() + timedelta(days=90)
    approved = (
        clients["steward"]
        .post(
            f"/api/v1/access-requests/{renewed['id']}/decision",
            {"decision": "approve", "expires_at": later.isoformat()},
        )
        .json()
    )
    assert approved["status"] == "approved"
    old = analyst.get(f"/api/v1/access-requests/{created['id']}").json()
    assert all(g["revoked_at"] is not None for g in old["grants"])  # the renewal superseded the old grants
    assert old["status"] == "revoked"
    revoked = analyst.get("/api/v1/access-requests?status=revoked").json()["items"]
    assert [r["id"] for r in revoked] == [created["id"]]
    assert [r["id"] for r in analyst.get("/api/v1/access-requests?status=approved").json()["items"]] == [renewed["id"]]
    assert level_of(tenant_a, analyst.user, "gov", "cognitive") == "query"

    # Expiry bites at use, without the cleanup task.
    with tenant_context(tenant_a):
        past = timezone.now() - timedelta(seconds=1)
        Grant.objects.filter(source=f"access_request:{renewed['id']}").update(expires_at=past)
        AccessRequest.objects.filter(pk=renewed["id"]).update(granted_expires_at=past)
    connection.set_schema_to_public()
    assert level_of(tenant_a, analyst.user, "gov", "cognitive") == "metadata"
    expired = analyst.get(f"/api/v1/access-requests/{renewed['id']}").json()
    assert expired["status"] == "expired"
    assert [r["id"] for r in analyst.get("/api/v1/access-requests?status=expired").json()["items"]] == [renewed["id"]]
    too_late = analyst.post(f"/api/v1/access-requests/{renewed['id']}/renew", {"accept_terms": True})
    assert too_late.status_code == 409 and _code(too_late) == "not_renewable"
    assert clients["other"].post(f"/api/v1/access-requests/{renewed['id']}/renew", {}).status_code == 404


def test_notifications_read(gov_study, clients) -> None:
    _request(clients["analyst"])
    steward = clients["steward"]
    unread = steward.get("/api/v1/notifications?unread=true").json()
    assert unread["total"] >= 1
    first = unread["items"][0]["id"]
    assert steward.post(f"/api/v1/notifications/{first}/read").json() == {"marked": 1}
    assert clients["owner"].post(f"/api/v1/notifications/{first}/read").status_code == 404  # someone else's
    assert steward.post("/api/v1/notifications/999999/read").status_code == 404
    steward.post("/api/v1/notifications/read-all")
    assert steward.get("/api/v1/notifications?unread=true").json()["total"] == 0


def test_removed_datasets_or_members_make_approval_a_conflict(gov_study, clients, tenant_a) -> None:
    created = _request(clients["analyst"]).json()
    clients["owner"].delete(f"/api/v1/members/{clients['analyst'].user.email}")
    response = clients["steward"].post(f"/api/v1/access-requests/{created['id']}/decision", {"decision": "approve"})
    assert response.status_code == 409 and _code(response) == "requester_not_member"
    with tenant_context(tenant_a):
        assert Study.objects.filter(slug="gov").exists()


def test_a_removed_members_pending_request_is_withdrawn(gov_study, clients, tenant_a) -> None:
    """A request left pending when its requester is removed is withdrawn with them: re-added later, the old request
    (its purpose, its accepted terms) cannot be approved into grants; they ask again. Before, the queue kept it
    and an approval after the re-adding granted what the person asked for before they left."""
    analyst = clients["analyst"]
    created = _request(analyst).json()
    assert clients["steward"].delete(f"/api/v1/members/{analyst.user.email}").status_code == 204
    assert clients["owner"].post("/api/v1/members", {"email": analyst.user.email, "role": "analyst"}).status_code == 201
    late = clients["steward"].post(f"/api/v1/access-requests/{created['id']}/decision", {"decision": "approve"})
    assert late.status_code == 409 and _code(late) == "already_decided"  # a member again, but that request is gone
    assert level_of(tenant_a, analyst.user, "gov", "cognitive") == "metadata"
    shown = clients["steward"].get(f"/api/v1/access-requests/{created['id']}").json()
    assert shown["status"] == "withdrawn"
    with tenant_context(tenant_a):
        event = AuditEvent.objects.filter(action="access_request.withdrawn", target_id=str(created["id"])).get()
        assert not Grant.objects.filter(source=f"access_request:{created['id']}").exists()
    connection.set_schema_to_public()
    assert event.details["reason"] == "member_removed"


def test_removing_a_member_revokes_their_grants_and_teams(gov_study, clients, tenant_a) -> None:
    analyst = clients["analyst"]
    created = _request(analyst).json()
    clients["steward"].post(f"/api/v1/access-requests/{created['id']}/decision", {"decision": "approve"})
    team = clients["steward"].post("/api/v1/teams", {"name": "Imaging"})
    assert team.status_code == 201, team.content
    slug = team.json()["slug"]
    added = clients["steward"].post(f"/api/v1/teams/{slug}/members", {"email": analyst.user.email})
    assert added.status_code in (200, 201), added.content
    assert level_of(tenant_a, analyst.user, "gov", "cognitive") == "query"
    assert clients["steward"].delete(f"/api/v1/members/{analyst.user.email}").status_code == 204
    clients["owner"].post("/api/v1/members", {"email": analyst.user.email, "role": "analyst"})
    assert level_of(tenant_a, analyst.user, "gov", "cognitive") == "metadata"  # nothing survived the removal
    with tenant_context(tenant_a):
        from access.models import TeamMember

        assert not TeamMember.objects.filter(user_id=analyst.user.pk).exists()
        assert Grant.objects.get(source=f"access_request:{created['id']}").revoked_at is not None
    connection.set_schema_to_public()


def test_governance_endpoints_are_in_the_openapi_schema(clients) -> None:
    paths = clients["owner"].get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/members",
        "/api/v1/members/{email}",
        "/api/v1/invitations",
        "/api/v1/access-requests",
        "/api/v1/access-requests/{request_id}/decision",
        "/api/v1/access-requests/{request_id}/renew",
        "/api/v1/studies/{study}/terms",
        "/api/v1/notifications",
    ):
        assert path in paths, path
