"""Sign-in, sign-out, password reset, rate limiting, enforced MFA — and their audit events."""

from __future__ import annotations

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_rate_limits() -> None:
    cache.clear()


def _actions(tenant) -> list[str]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def test_login_and_logout_are_audited_in_the_tenant(tenant_a, make_member) -> None:
    user = make_member(tenant_a)
    browser = Client(HTTP_HOST="lab-a.test", HTTP_USER_AGENT="pytest-browser")
    response = browser.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert browser.get("/").status_code == 200
    browser.post("/accounts/logout/")
    assert browser.get("/").status_code == 302
    with tenant_context(tenant_a):
        login = AuditEvent.objects.filter(action="auth.login", actor_email=user.email).get()
        assert login.user_agent == "pytest-browser" and login.ip == "127.0.0.1" and login.request_id
        assert AuditEvent.objects.filter(action="auth.logout", actor_email=user.email).count() == 1


def test_wrong_password_is_rejected_and_audited(tenant_a, make_member) -> None:
    user = make_member(tenant_a)
    browser = Client(HTTP_HOST="lab-a.test")
    response = browser.post("/accounts/login/", {"login": user.email, "password": "wrong-password"})
    assert response.status_code == 200
    assert b"not correct" in response.content
    assert browser.get("/").status_code == 302
    with tenant_context(tenant_a):
        failed = AuditEvent.objects.filter(action="auth.login_failed").order_by("-id").first()
    assert failed is not None and failed.details["email"] == user.email
    assert failed.actor_id is None


def test_repeated_failed_logins_are_rate_limited(tenant_a, make_member) -> None:
    user = make_member(tenant_a)
    browser = Client(HTTP_HOST="lab-a.test")
    for _ in range(5):
        browser.post("/accounts/login/", {"login": user.email, "password": "wrong-password"})
    blocked = browser.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert blocked.status_code in {200, 429}
    assert b"Too many failed login attempts" in blocked.content or blocked.status_code == 429
    assert browser.get("/").status_code == 302  # even the right password did not get in


def test_password_reset_sends_mail(tenant_a, make_member) -> None:
    user = make_member(tenant_a)
    browser = Client(HTTP_HOST="lab-a.test")
    response = browser.post("/accounts/password/reset/", {"email": user.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert user.email in mail.outbox[0].to
    assert "lab-a.test" in mail.outbox[0].body


def test_login_page_is_styled_and_has_csrf(client: Client) -> None:
    response = client.get("/accounts/login/", HTTP_HOST="lab-a.test")
    assert response.status_code == 200
    body = response.content.decode()
    assert "/static/css/app.css" in body and "csrfmiddlewaretoken" in body
    assert "cdn" not in body.lower()


def _require_mfa(tenant, required: bool) -> None:
    tenant.settings = {**tenant.settings, "mfa_required": required}
    tenant.save(update_fields=["settings"])


def test_mfa_required_sends_members_to_setup(tenant_a, make_member) -> None:
    user = make_member(tenant_a)
    _require_mfa(tenant_a, True)
    browser = Client(HTTP_HOST="lab-a.test")
    browser.login(email=user.email, password=PASSWORD)
    page = browser.get("/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/2fa/totp/activate")
    api = browser.get("/api/v1/me")
    assert api.status_code == 403 and "two-factor" in api.json()["error"]["message"]
    TOTP.activate(user, generate_totp_secret())
    assert browser.get("/").status_code == 200
    assert browser.get("/api/v1/me").status_code == 200


def test_mfa_flag_off_by_default(tenant_a, make_member) -> None:
    user = make_member(tenant_a)
    browser = Client(HTTP_HOST="lab-a.test")
    browser.login(email=user.email, password=PASSWORD)
    assert browser.get("/").status_code == 200


def test_login_with_totp_asks_for_the_code(tenant_a, make_member) -> None:
    user = make_member(tenant_a)
    TOTP.activate(user, generate_totp_secret())
    browser = Client(HTTP_HOST="lab-a.test")
    response = browser.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302 and "/accounts/2fa/authenticate" in response["Location"]
    assert browser.get("/").status_code == 302  # not signed in until the code is given


def test_signup_closed_by_default(client: Client) -> None:
    response = client.get("/accounts/signup/", HTTP_HOST="lab-a.test")
    assert b"closed" in response.content.lower()


def test_login_page_offers_no_signup_while_signup_is_closed(client: Client) -> None:
    body = client.get("/accounts/login/", HTTP_HOST="lab-a.test").content.decode()
    assert "/accounts/signup/" not in body and "by invitation" in body
