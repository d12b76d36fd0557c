"""Sign-in lockout is per account across the whole platform, and refused attempts are audited (issue 10, finding 7).

The attack: five guesses per account *per host* — with one more workspace host (or the platform host, or the same
host in capitals) an attacker got five more guesses each time.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

HOSTS = ["lab-a.test", "lab-b.test", "platform.test", "LAB-A.TEST", "Lab-B.Test"]


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    cache.clear()  # this test run's own Redis database


def _locked(tenant, email: str) -> list[AuditEvent]:
    with schema_context(tenant.schema_name):
        return list(AuditEvent.objects.filter(action="auth.login_locked", details__email=email))


def test_guesses_on_every_host_count_against_one_account(tenant_a, make_member) -> None:
    user = make_member(tenant_a)
    for host in HOSTS:  # five wrong guesses, each on a different host name
        response = Client(HTTP_HOST=host).post("/accounts/login/", {"login": user.email, "password": "guess-1234"})
        assert response.status_code == 200 and b"Too many" not in response.content
    browser = Client(HTTP_HOST="lab-a.test")
    blocked = browser.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert b"Too many failed login attempts" in blocked.content
    assert browser.get("/api/v1/me").status_code == 401  # even the right password did not get in
    elsewhere = Client(HTTP_HOST="lab-b.test")
    assert (
        b"Too many failed login attempts"
        in elsewhere.post("/accounts/login/", {"login": user.email.upper(), "password": PASSWORD}).content
    )
    # Refused attempts are audited, coalesced: one event per account and workspace per window, not one per try.
    assert len(_locked(tenant_a, user.email)) == 1
    browser.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert len(_locked(tenant_a, user.email)) == 1
    event = _locked(tenant_a, user.email)[0]
    assert event.actor_id is None and event.ip == "127.0.0.1"


def test_other_accounts_are_not_locked(tenant_a, make_member) -> None:
    target, bystander = make_member(tenant_a), make_member(tenant_a)
    for host in HOSTS:
        Client(HTTP_HOST=host).post("/accounts/login/", {"login": target.email, "password": "guess-1234"})
    browser = Client(HTTP_HOST="lab-b.test")
    assert browser.post("/accounts/login/", {"login": bystander.email, "password": PASSWORD}).status_code == 302


def test_a_two_factor_code_used_on_one_host_cannot_be_replayed_on_another(tenant_a, tenant_b, make_member) -> None:
    from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value

    from tenants.services import membership_set

    user = make_member(tenant_a)
    membership_set(tenant=tenant_b, user=user, role="analyst")
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    code = format_hotp_value(hotp_value(secret, int(__import__("time").time()) // 30))

    def sign_in(host: str) -> Client:
        browser = Client(HTTP_HOST=host)
        step = browser.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
        assert step.status_code == 302 and "/accounts/2fa/authenticate" in step["Location"]
        browser.post("/accounts/2fa/authenticate/", {"code": code})
        return browser

    assert sign_in("lab-a.test").get("/api/v1/me").status_code == 200
    assert sign_in("lab-b.test").get("/api/v1/me").status_code == 401  # the same code, another host: refused
