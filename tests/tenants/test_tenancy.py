"""Tenant isolation: hosts, pages, API tokens and data never cross tenants."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from audit.services import audit_event_record
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_unknown_host_is_404_for_pages_and_api(client: Client) -> None:
    page = client.get("/", HTTP_HOST="nowhere.test")
    assert page.status_code == 404
    assert b"No workspace is served at this address" in page.content
    api = client.get("/api/v1/me", HTTP_HOST="nowhere.test")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


def test_anonymous_page_visit_redirects_to_login(client: Client) -> None:
    response = client.get("/", HTTP_HOST="lab-a.test")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/")


def test_member_sees_home_of_own_tenant(client: Client, tenant_a, make_member) -> None:
    user = make_member(tenant_a, "steward")
    client.defaults["HTTP_HOST"] = "lab-a.test"
    assert client.login(email=user.email, password=PASSWORD)
    response = client.get("/")
    assert response.status_code == 200
    assert b"Lab A" in response.content
    assert b"Steward" in response.content


def test_member_of_one_tenant_gets_403_on_the_other(client: Client, tenant_a, tenant_b, make_member) -> None:
    user = make_member(tenant_a)
    client.defaults["HTTP_HOST"] = "lab-b.test"
    assert client.login(email=user.email, password=PASSWORD)
    response = client.get("/")
    assert response.status_code == 403
    assert b"not a member of this workspace" in response.content
    assert b"Lab B</h1>" not in response.content
    settings_page = client.get("/settings/")
    assert settings_page.status_code == 403


def test_session_of_non_member_gets_403_from_api(client: Client, tenant_a, tenant_b, make_member) -> None:
    user = make_member(tenant_a)
    client.defaults["HTTP_HOST"] = "lab-b.test"
    client.login(email=user.email, password=PASSWORD)
    response = client.get("/api/v1/me")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_token_of_one_tenant_is_useless_on_the_other(api, tenant_a, tenant_b) -> None:
    lab_a = api(tenant_a)
    assert lab_a.get("/api/v1/me").json()["tenant"]["slug"] == "lab-a"
    lab_a.host = "lab-b.test"
    lab_a.client.defaults["HTTP_HOST"] = "lab-b.test"
    response = lab_a.get("/api/v1/me")
    assert response.status_code == 401
    assert "Lab B" not in response.content.decode()


def test_tenant_data_is_isolated_by_schema(tenant_a, tenant_b) -> None:
    with tenant_context(tenant_a):
        audit_event_record(action="test.marker_a")
    with tenant_context(tenant_b):
        audit_event_record(action="test.marker_b")
        actions_b = set(AuditEvent.objects.values_list("action", flat=True))
    with tenant_context(tenant_a):
        actions_a = set(AuditEvent.objects.values_list("action", flat=True))
    assert "test.marker_a" in actions_a and "test.marker_a" not in actions_b
    assert "test.marker_b" in actions_b and "test.marker_b" not in actions_a


def test_public_host_serves_landing_page_not_tenant_pages(client: Client) -> None:
    response = client.get("/", HTTP_HOST="platform.test")
    assert response.status_code == 200
    assert b"BDT Platform" in response.content
    assert client.get("/settings/", HTTP_HOST="platform.test").status_code == 404
    assert client.get("/api/v1/me", HTTP_HOST="platform.test").status_code == 404


def test_admin_is_for_superusers_only_and_signs_in_through_allauth(client: Client, tenant_a, make_member) -> None:
    # Anonymous: the admin's own login form is replaced by the platform's sign-in (rate-limited, MFA-aware).
    for host in ("platform.test", "lab-a.test"):
        response = client.get("/admin/login/", HTTP_HOST=host)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
        assert client.get("/admin/", HTTP_HOST=host).status_code == 302
    user = make_member(tenant_a, "owner")
    client.login(email=user.email, password=PASSWORD)
    # A workspace owner is not a platform operator; neither is a staff user without superuser status.
    for flags in ({}, {"is_staff": True}):
        for name, value in flags.items():
            setattr(user, name, value)
        user.save()
        for host in ("platform.test", "lab-a.test"):
            assert client.get("/admin/", HTTP_HOST=host).status_code == 302
    user.is_staff = user.is_superuser = True
    user.save()
    for host in ("platform.test", "lab-a.test"):
        assert client.get("/admin/", HTTP_HOST=host).status_code == 200
