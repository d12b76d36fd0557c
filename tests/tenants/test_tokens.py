"""Personal access tokens: shown once, stored hashed, tenant-bound, expiring, revocable."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tenants.models import ApiToken
from tenants.services import membership_delete
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def test_token_is_stored_hashed_and_never_listed(api, tenant_a) -> None:
    client = api(tenant_a)
    secret = client.token.split("_", 2)[2]
    stored = ApiToken.objects.get(prefix=client.token.split("_")[1])
    assert stored.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.filter(pk=stored.pk).values().first())
    listing = client.get("/api/v1/tokens").json()
    assert listing["total"] == 1 and listing["page"] == 1 and listing["page_size"] == 100
    assert secret not in str(listing)


def test_create_token_through_api_returns_secret_once(api, tenant_a) -> None:
    client = api(tenant_a)
    created = client.post("/api/v1/tokens", {"name": "notebook", "expires_days": 7})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["token"].startswith("bdt_") and body["status"] == "active"
    from django.utils.dateparse import parse_datetime

    lifetime = parse_datetime(body["expires_at"]) - timezone.now()
    assert timedelta(days=6, hours=23) < lifetime <= timedelta(days=7)
    second = ApiClient(host="lab-a.test", token=body["token"])
    assert second.get("/api/v1/me").status_code == 200
    assert all("token" not in item for item in client.get("/api/v1/tokens").json()["items"])


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer bdt_x_y", "Basic abc", "Bearer ", "bdt_token"])
def test_malformed_or_unknown_tokens_are_401(client: Client, header: str) -> None:
    response = client.get("/api/v1/me", HTTP_HOST="lab-a.test", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_missing_auth_is_401(client: Client) -> None:
    response = client.get("/api/v1/me", HTTP_HOST="lab-a.test")
    assert response.status_code == 401


def test_wrong_secret_with_valid_prefix_is_401(api, tenant_a) -> None:
    client = api(tenant_a)
    client.token = client.token[:-4] + "AAAA"
    assert client.get("/api/v1/me").status_code == 401


def test_expired_token_is_401(api, tenant_a) -> None:
    client = api(tenant_a)
    ApiToken.objects.filter(prefix=client.token.split("_")[1]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/v1/me").status_code == 401


def test_revoked_token_stops_working_immediately(api, tenant_a) -> None:
    client = api(tenant_a)
    token_id = client.get("/api/v1/tokens").json()["items"][0]["id"]
    revoked = client.delete(f"/api/v1/tokens/{token_id}")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert client.get("/api/v1/me").status_code == 401


def test_cannot_revoke_someone_elses_token(api, tenant_a) -> None:
    alice, bob = api(tenant_a), api(tenant_a)
    bob_token_id = bob.get("/api/v1/tokens").json()["items"][0]["id"]
    response = alice.delete(f"/api/v1/tokens/{bob_token_id}")
    assert response.status_code == 404
    assert bob.get("/api/v1/me").status_code == 200


def test_removed_member_tokens_stop_working(api, tenant_a) -> None:
    api(tenant_a, "owner")  # keep an owner so the member can be removed
    client = api(tenant_a, "analyst")
    membership_delete(tenant=tenant_a, user=client.user)
    assert client.get("/api/v1/me").status_code == 401


def test_deactivated_user_token_is_401(api, tenant_a) -> None:
    client = api(tenant_a)
    client.user.is_active = False
    client.user.save()
    assert client.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize(
    "payload", [{"name": ""}, {"name": "x", "expires_days": 0}, {"name": "x", "expires_days": 100000}, {}]
)
def test_token_create_rejects_bad_input(api, tenant_a, payload) -> None:
    client = api(tenant_a)
    response = client.post("/api/v1/tokens", payload)
    assert response.status_code == 422
    assert response.json()["error"]["code"] in {"invalid_input", "invalid_expiry"}
    assert client.get("/api/v1/tokens").json()["total"] == 1


def test_session_api_requires_csrf_for_unsafe_methods(tenant_a, make_member) -> None:
    from tests.conftest import PASSWORD

    user = make_member(tenant_a)
    browser = Client(enforce_csrf_checks=True, HTTP_HOST="lab-a.test")
    assert browser.login(email=user.email, password=PASSWORD)
    assert browser.get("/api/v1/me").json()["auth"] == "session"
    refused = browser.post("/api/v1/tokens", {"name": "x"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    browser.get("/settings/")
    csrf = browser.cookies["csrftoken"].value
    accepted = browser.post("/api/v1/tokens", {"name": "x"}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 201


def test_settings_page_creates_and_revokes_tokens(tenant_a, make_member) -> None:
    from tests.conftest import PASSWORD

    user = make_member(tenant_a)
    browser = Client(HTTP_HOST="lab-a.test")
    browser.login(email=user.email, password=PASSWORD)
    created = browser.post("/settings/tokens/", {"name": "laptop", "expires_days": "30"})
    assert created.status_code == 200
    assert b'data-testid="new-token"' in created.content
    token = ApiToken.objects.get(user=user, tenant=tenant_a)
    assert browser.get("/settings/").content.count(b'data-testid="new-token"') == 0
    bad = browser.post("/settings/tokens/", {"name": "x", "expires_days": "abc"})
    assert bad.status_code == 422 and b"whole number" in bad.content
    revoked = browser.post(f"/settings/tokens/{token.pk}/revoke/")
    assert revoked.status_code == 200 and b"revoked" in revoked.content
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_settings_page_creates_a_scoped_token(tenant_a, make_member) -> None:
    from tests.conftest import PASSWORD

    user = make_member(tenant_a)
    browser = Client(HTTP_HOST="lab-a.test")
    browser.login(email=user.email, password=PASSWORD)
    assert b'<option value="count">Count-only</option>' in browser.get("/settings/").content
    created = browser.post("/settings/tokens/", {"name": "counts", "expires_days": "7", "scope": "count"})
    assert created.status_code == 200 and b"Count-only" in created.content
    assert ApiToken.objects.get(user=user, name="counts").scope == "count"
    bad = browser.post("/settings/tokens/", {"name": "x", "scope": "root"})
    assert bad.status_code == 422 and b"Unknown scope" in bad.content


def test_a_deactivated_users_session_and_child_tokens_stop_at_once(api, tenant_a) -> None:
    """Deactivating an account ends its browser session and every token, those it made with a token included, at
    the next request (tokens are checked against the account on each use)."""
    from django.test import Client

    parent = api(tenant_a, "analyst")
    made = parent.post("/api/v1/tokens", {"name": "child", "scope": "read"})
    assert made.status_code == 201, made.content
    child = type(parent)(host=parent.host, token=made.json()["token"])
    session = Client(HTTP_HOST="lab-a.test")
    session.force_login(parent.user)
    assert child.get("/api/v1/me").status_code == 200 and session.get("/api/v1/me").status_code == 200
    parent.user.is_active = False
    parent.user.save(update_fields=["is_active"])
    assert parent.get("/api/v1/me").status_code == 401 and child.get("/api/v1/me").status_code == 401
    assert session.get("/api/v1/me").status_code in (401, 403) and session.get("/").status_code in (302, 403)
