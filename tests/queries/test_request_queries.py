"""Per-request database work of the API: the caller's membership is looked up once, and still required."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from tenants.models import Membership

pytestmark = pytest.mark.django_db


def _membership_lookups(queries: list[dict[str, Any]]) -> int:
    """Statements reading memberships (token authentication joins it into the token's own query)."""
    return sum(1 for q in queries if '"tenants_membership"' in q["sql"])


def test_token_request_looks_up_the_membership_once(api: Any, tenant_a: Any) -> None:
    client = api(tenant_a, "analyst")
    assert client.get("/api/v1/studies").status_code == 200
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/studies")  # token auth + the role check of the study list
    assert response.status_code == 200
    assert _membership_lookups(captured.captured_queries) == 1


def test_session_request_looks_up_the_membership_once(make_member: Any, tenant_a: Any) -> None:
    from django.test import Client

    member = make_member(tenant_a, "analyst")
    browser = Client(HTTP_HOST=tenant_a.primary_domain_name())
    browser.force_login(member)
    with CaptureQueriesContext(connection) as captured:
        response = browser.get("/api/v1/studies")  # middleware + session auth + role check
    assert response.status_code == 200, response.content
    assert _membership_lookups(captured.captured_queries) == 1


def test_token_request_reads_the_token_and_membership_in_one_statement(api: Any, tenant_a: Any) -> None:
    client = api(tenant_a, "analyst")
    assert client.get("/api/v1/me").status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/v1/me").status_code == 200
    reads = [q["sql"] for q in captured.captured_queries if '"tenants_apitoken"' in q["sql"]]
    assert len(reads) == 1 and '"tenants_membership"' in reads[0]


def test_a_token_carries_the_role_of_its_own_workspace(
    api: Any, make_member: Any, tenant_a: Any, tenant_b: Any
) -> None:
    """The membership read with the token is the one in the host's workspace, never the user's other one."""
    client = api(tenant_a, "viewer")
    make_member(tenant_b, "owner", email=client.user.email)
    me = client.get("/api/v1/me")
    assert me.status_code == 200, me.content
    assert me.json()["role"] == "viewer"
    assert client.post("/api/v1/studies", {"slug": "x", "name": "X", "id_column": "participant_id"}).status_code == 403


def test_a_token_of_a_removed_member_is_refused(api: Any, tenant_a: Any) -> None:
    client = api(tenant_a, "analyst")
    assert client.get("/api/v1/studies").status_code == 200
    with schema_context("public"):
        Membership.objects.filter(user=client.user, tenant=tenant_a).delete()
    assert client.get("/api/v1/studies").status_code == 401
