"""Required two-factor authentication covers personal access tokens (issue 10, finding 6).

The attack: with ``mfa_required`` on, a member without an authenticator kept using tokens made earlier and minted
new ones, bypassing the rule that stopped their browser session.
"""

from __future__ import annotations

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core.management import CommandError, call_command
from django.test import Client

from core.errors import Forbidden
from tenants.models import ApiToken
from tenants.tokens import api_token_create
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _require_mfa(tenant) -> None:
    tenant.settings = {**tenant.settings, "mfa_required": True}
    tenant.save(update_fields=["settings"])


def _mfa_refused(response) -> bool:
    return response.status_code == 403 and response.json()["error"]["code"] == "mfa_required"


def test_tokens_of_members_without_two_factor_stop_and_cannot_be_created(api, tenant_a) -> None:
    member = api(tenant_a, "analyst")  # its token was made before the workspace required two-factor
    assert member.get("/api/v1/me").status_code == 200
    _require_mfa(tenant_a)
    for response in (
        member.get("/api/v1/me"),
        member.get("/api/v1/studies"),
        member.post("/api/v1/studies/anything/count", {}),
        member.post("/api/v1/tokens", {"name": "another", "expires_days": 365}),
    ):
        assert _mfa_refused(response), response.content
    assert "two-factor" in member.get("/api/v1/me").json()["error"]["message"]
    assert ApiToken.objects.filter(user=member.user).count() == 1  # nothing was minted
    with pytest.raises(Forbidden) as refused:
        api_token_create(user=member.user, tenant=tenant_a, name="service")
    assert refused.value.code == "mfa_required"
    with pytest.raises(CommandError, match="two-factor"):
        call_command("token_create", "--tenant", "lab-a", "--email", member.user.email)
    assert ApiToken.objects.filter(user=member.user).count() == 1
    browser = Client(HTTP_HOST="lab-a.test")
    browser.login(email=member.user.email, password=PASSWORD)
    assert _mfa_refused(browser.post("/api/v1/tokens", {"name": "x"}, content_type="application/json"))

    # Once the member sets up an authenticator, the same token works again and new ones can be made.
    TOTP.activate(member.user, generate_totp_secret())
    assert member.get("/api/v1/me").status_code == 200
    assert member.post("/api/v1/tokens", {"name": "after 2fa", "expires_days": 7}).status_code == 201


def test_members_who_met_the_rule_keep_their_tokens(api, tenant_a, tenant_b) -> None:
    compliant = api(tenant_a, "analyst")
    TOTP.activate(compliant.user, generate_totp_secret())
    elsewhere = api(tenant_b, "analyst")  # lab B does not require two-factor
    _require_mfa(tenant_a)
    assert compliant.get("/api/v1/me").status_code == 200
    assert elsewhere.get("/api/v1/me").status_code == 200
