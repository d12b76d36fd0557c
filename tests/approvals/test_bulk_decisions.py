"""Stewards decide several requests at once from the console: each decision goes through the same service (and
audit); bad input changes nothing; analysts may not use it; the stewards' notices about decided requests are read."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from approvals.models import AccessRequest, Notification

pytestmark = pytest.mark.django_db


def _browser(user) -> Client:
    client = Client(HTTP_HOST="lab-a.test")
    client.force_login(user)
    return client


def _requests(clients) -> list[int]:
    ids = []
    for who in ("analyst", "other"):
        response = clients[who].post(
            "/api/v1/access-requests",
            {
                "study": "gov",
                "datasets": ["cognitive"],
                "level": "query",
                "purpose": "Bulk.",
                "include_demographics": True,
            },
        )
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    return ids


def _statuses(tenant, ids) -> list[str]:
    with schema_context(tenant.schema_name):
        return [AccessRequest.objects.get(pk=pk).status for pk in ids]


def test_bulk_approve_and_deny(gov_study, clients, tenant_a) -> None:
    ids = _requests(clients)
    steward = _browser(clients["steward"].user)
    with schema_context(tenant_a.schema_name):
        assert Notification.objects.filter(kind="access_request.created", read_at__isnull=True).count() >= 2

    # A denial without a reason is refused for each request; nothing is decided.
    page = steward.post("/console/requests/decide/", {"ids": ids, "decision": "deny"}, follow=True).content.decode()
    assert page.count("Give the requester a reason for the denial.") == 2
    assert _statuses(tenant_a, ids) == ["pending", "pending"]
    empty = steward.post("/console/requests/decide/", {"decision": "approve"}, follow=True).content.decode()
    assert "Select at least one request." in empty

    # Analysts may not decide.
    refused = _browser(clients["analyst"].user).post("/console/requests/decide/", {"ids": ids, "decision": "approve"})
    assert refused.status_code == 403
    assert _statuses(tenant_a, ids) == ["pending", "pending"]

    done = steward.post("/console/requests/decide/", {"ids": ids, "decision": "approve"}, follow=True).content.decode()
    assert f"2 requests approved: #{ids[0]}, #{ids[1]}." in done
    assert _statuses(tenant_a, ids) == ["approved", "approved"]
    with schema_context(tenant_a.schema_name):
        assert not Notification.objects.filter(kind="access_request.created", read_at__isnull=True).exists()
    again = steward.post("/console/requests/decide/", {"ids": ids[:1], "decision": "approve"}, follow=True)
    assert "is already approved" in again.content.decode()
