"""A request for a measure table alone would leave the requester unable to use it (every query starts from the
demographics table): the request and the decision say so, and either side can include the demographics table."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from tests.approvals.conftest import level_of

pytestmark = pytest.mark.django_db


def _request(client, **overrides):
    payload = {"study": "gov", "datasets": ["cognitive"], "level": "export", "purpose": "Mood follow-up."}
    payload.update(overrides)
    return client.post("/api/v1/access-requests", payload)


def test_request_without_demographics_is_flagged_on_both_sides(gov_study, clients, tenant_a) -> None:
    created = _request(clients["analyst"])
    assert created.status_code == 201, created.content
    gap = created.json()["demographics_gap"]
    assert gap["dataset"] == "demographics" and gap["needed"] == "export" and gap["have"] == "metadata"
    assert "demographics" in gap["message"] and "export" in gap["message"]
    queued = clients["steward"].get(f"/api/v1/access-requests/{created.json()['id']}").json()
    assert queued["demographics_gap"]["dataset"] == "demographics"

    # Approved as asked: the grant is made, and the request still says what is missing.
    decided = clients["steward"].post(
        f"/api/v1/access-requests/{created.json()['id']}/decision", {"decision": "approve"}
    )
    assert decided.status_code == 200, decided.content
    assert decided.json()["demographics_gap"]["needed"] == "export"
    user = clients["analyst"].user
    assert level_of(tenant_a, user, "gov", "cognitive") == "export"
    assert level_of(tenant_a, user, "gov", "demographics") == "metadata"


def test_request_can_include_demographics(gov_study, clients, tenant_a) -> None:
    created = _request(clients["analyst"], include_demographics=True)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["datasets"] == ["cognitive", "demographics"] and body["demographics_gap"] is None
    clients["steward"].post(f"/api/v1/access-requests/{body['id']}/decision", {"decision": "approve"})
    user = clients["analyst"].user
    assert level_of(tenant_a, user, "gov", "demographics") == "export"

    # Nothing is added when the requester already has the level on demographics.
    again = _request(clients["analyst"], datasets=["cognitive"], level="count", include_demographics=True)
    assert again.status_code == 409  # already has export on cognitive: nothing to ask for


def test_approval_can_include_demographics(gov_study, clients, tenant_a) -> None:
    created = _request(clients["analyst"], level="query").json()
    decided = clients["steward"].post(
        f"/api/v1/access-requests/{created['id']}/decision",
        {"decision": "approve", "include_demographics": True},
    )
    assert decided.status_code == 200, decided.content
    body = decided.json()
    assert body["datasets"] == ["cognitive", "demographics"] and body["demographics_gap"] is None
    assert sorted(g["dataset"] for g in body["grants"]) == ["cognitive", "demographics"]
    user = clients["analyst"].user
    assert level_of(tenant_a, user, "gov", "demographics") == "query"
    with schema_context(tenant_a.schema_name):
        event = AuditEvent.objects.filter(action="access_request.approved").latest("id")
    assert event.details["demographics_added"] == "demographics"
    notices = clients["analyst"].get("/api/v1/notifications").json()["items"]
    assert any("demographics table demographics was included" in n["text"] for n in notices)


def test_approval_at_a_lower_level_includes_demographics_at_that_level(gov_study, clients, tenant_a) -> None:
    created = _request(clients["analyst"]).json()
    clients["steward"].post(
        f"/api/v1/access-requests/{created['id']}/decision",
        {"decision": "approve", "level": "count", "include_demographics": True},
    )
    user = clients["analyst"].user
    assert level_of(tenant_a, user, "gov", "demographics") == "count"
    assert level_of(tenant_a, user, "gov", "cognitive") == "count"


def test_include_demographics_must_be_a_boolean(gov_study, clients) -> None:
    bad = _request(clients["analyst"], include_demographics="perhaps")
    assert bad.status_code == 422
    assert clients["analyst"].get("/api/v1/access-requests").json()["total"] == 0
