"""An e-mail address counts for sign-in, invitations and membership only once verified (issue 10, finding 1).

The attack that worked: a signed-in user added an address they do not control at /accounts/email/ and made it their
primary address without confirming it; an owner later invited that address, and the platform added the attacker to
the workspace at once. Each test replays one path of that class against the real stack and shows it fails.
"""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from core.errors import Conflict
from tenants.models import Membership, User
from tenants.roles import Role
from tenants.selectors import membership_get_by_email
from tenants.services import membership_set, tenant_create, user_get_or_create
from tests.conftest import PASSWORD, unique_email

pytestmark = pytest.mark.django_db


def _signed_in(user: User, host: str) -> Client:
    browser = Client(HTTP_HOST=host)
    response = browser.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content  # a real sign-in through allauth's form
    return browser


def _events(tenant, action: str) -> list[AuditEvent]:
    with schema_context(tenant.schema_name):
        return list(AuditEvent.objects.filter(action=action).order_by("id"))


def _plant_unverified(attacker: User, victim_address: str, host: str, browser: Client | None = None) -> Client:
    """The attacker adds the victim's address to their own account and tries to make it their sign-in address."""
    browser = browser or _signed_in(attacker, host)
    added = browser.post("/accounts/email/", {"action_add": "", "email": victim_address})
    assert added.status_code == 302, added.content
    assert EmailAddress.objects.filter(user=attacker, email=victim_address, verified=False).exists()
    made_primary = browser.post("/accounts/email/", {"action_primary": "", "email": victim_address}, follow=True)
    assert "not confirmed yet" in made_primary.content.decode()
    return browser


def _invite(inviter, address: str, role: str, capture) -> dict:
    with capture(execute=True):
        response = inviter.post("/api/v1/members", {"email": address, "role": role})
    assert response.status_code == 201, response.content
    return response.json()


def test_an_account_without_any_verified_address_cannot_make_one_primary(tenant_b) -> None:
    """The exact state of the finding: an account with no confirmed address at all (allauth itself then lets any
    address become primary), signed in from before the fix."""
    attacker = User.objects.create_user(email=unique_email("bare"), password=PASSWORD)
    browser = Client(HTTP_HOST="lab-b.test")
    browser.force_login(attacker)
    victim_address = unique_email("victim")
    _plant_unverified(attacker, victim_address, "lab-b.test", browser)
    attacker.refresh_from_db()
    assert attacker.email != victim_address
    assert EmailAddress.objects.get(user=attacker, email=victim_address).primary is False


def test_an_unconfirmed_address_cannot_become_primary_nor_win_an_invitation(
    api, tenant_a, tenant_b, make_member, django_capture_on_commit_callbacks
) -> None:
    attacker = make_member(tenant_b, Role.ANALYST)
    victim_address = unique_email("victim")
    _plant_unverified(attacker, victim_address, "lab-b.test")
    attacker.refresh_from_db()
    assert attacker.email != victim_address  # the sign-in address never became the unconfirmed one
    assert [e.details["email"] for e in _events(tenant_b, "auth.email_added")][-1] == victim_address
    assert _events(tenant_b, "auth.email_primary_refused")

    owner = api(tenant_a, Role.OWNER)
    body = _invite(owner, victim_address, "steward", django_capture_on_commit_callbacks)
    assert body["status"] == "invited" and body["member"] is None  # like a stranger: the e-mailed link
    assert not Membership.objects.filter(tenant=tenant_a, user=attacker).exists()
    link = re.search(r"http://lab-a\.test(/invitations/[^/\s]+/)", mail.outbox[-1].body).group(1)
    assert mail.outbox[-1].to == [victim_address]

    # Even holding the link, the attacker's account does not own the address: refused.
    attacker_browser = _signed_in(attacker, "lab-a.test")
    refused = attacker_browser.post(link)
    assert refused.status_code == 403
    assert not Membership.objects.filter(tenant=tenant_a, user=attacker).exists()

    # The address's real owner opens the link, signs up with it, and joins; the attacker's claim is dropped.
    victim = Client(HTTP_HOST="lab-a.test")
    assert victim.get(link).status_code == 200
    signup = victim.post(
        "/accounts/signup/", {"email": victim_address, "password1": PASSWORD, "password2": PASSWORD, "next": link}
    )
    assert signup.status_code == 302, signup.content
    new_user = User.objects.get(email=victim_address)
    assert EmailAddress.objects.get(user=new_user, email=victim_address).verified  # the link proved it
    assert not EmailAddress.objects.filter(user=attacker, email=victim_address).exists()
    assert victim.post(link).status_code == 302
    assert Membership.objects.get(tenant=tenant_a, user=new_user).role == "steward"


def test_a_legacy_unverified_sign_in_address_counts_for_nothing(
    api, tenant_a, make_member, django_capture_on_commit_callbacks
) -> None:
    """State written before the fix: an account whose sign-in address was made primary without confirmation."""
    member = make_member(tenant_a, Role.ANALYST)
    victim_address = unique_email("victim")
    EmailAddress.objects.filter(user=member).update(primary=False)
    EmailAddress.objects.create(user=member, email=victim_address, verified=False, primary=True)
    User.objects.filter(pk=member.pk).update(email=victim_address)

    owner = api(tenant_a, Role.OWNER)
    members = {m["email"]: m for m in owner.get("/api/v1/members?page_size=1000").json()["items"]}
    assert members[victim_address]["email_verified"] is False
    assert members[owner.user.email]["email_verified"] is True
    page = Client(HTTP_HOST="lab-a.test")
    page.force_login(owner.user)
    row = page.get("/console/members/").content.decode().split(f'data-member="{victim_address}"')[1].split("</tr>")[0]
    assert 'data-testid="unverified"' in row

    # Nothing that trusts an address finds the account by it ...
    assert _invite(owner, victim_address, "analyst", django_capture_on_commit_callbacks)["status"] == "invited"
    refused = owner.patch(f"/api/v1/members/{victim_address}", {"role": "steward"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "email_unverified"
    with pytest.raises(Conflict):
        user_get_or_create(email=victim_address)
    assert membership_get_by_email(tenant=tenant_a, email=victim_address) is None
    assert membership_get_by_email(tenant=tenant_a, email=victim_address, verified_only=False) is not None
    assert owner.post("/api/v1/teams", {"slug": "pilot", "name": "Pilot"}).status_code == 201
    added = owner.post("/api/v1/teams/pilot/members", {"email": victim_address})
    assert added.status_code == 404  # a grant or team by e-mail finds only a verified address
    # ... and it cannot sign in with it.
    browser = Client(HTTP_HOST="lab-a.test")
    browser.post("/accounts/login/", {"login": victim_address, "password": PASSWORD})
    assert browser.get("/api/v1/me").status_code == 401
    # Stewards can still lower or remove such a member.
    assert owner.delete(f"/api/v1/members/{victim_address}").status_code == 204


def test_signing_in_needs_a_verified_address(tenant_a, make_member) -> None:
    member = make_member(tenant_a, Role.ANALYST)
    pending = unique_email("pending")
    _plant_unverified(member, pending, "lab-a.test")
    browser = Client(HTTP_HOST="lab-a.test")
    browser.post("/accounts/login/", {"login": pending, "password": PASSWORD})
    assert browser.get("/api/v1/me").status_code == 401  # the unconfirmed address does not sign anyone in
    assert _signed_in(member, "lab-a.test").get("/api/v1/me").status_code == 200


def test_password_reset_never_mails_an_unverified_address(tenant_a, make_member) -> None:
    member = make_member(tenant_a, Role.ANALYST)
    typo = unique_email("typo")
    _plant_unverified(member, typo, "lab-a.test")
    mail.outbox.clear()
    response = Client(HTTP_HOST="lab-a.test").post("/accounts/password/reset/", {"email": typo})
    assert response.status_code == 302  # the same answer as for a known address (no enumeration)
    assert not any("/password/reset/key/" in message.body for message in mail.outbox)
    Client(HTTP_HOST="lab-a.test").post("/accounts/password/reset/", {"email": member.email})
    assert any("/password/reset/key/" in m.body and m.to == [member.email] for m in mail.outbox)


def test_operator_commands_refuse_an_address_held_only_unverified(tenant_a, make_member) -> None:
    member = make_member(tenant_a, Role.ANALYST)
    squatted = unique_email("squatted")
    EmailAddress.objects.filter(user=member).update(primary=False)
    EmailAddress.objects.create(user=member, email=squatted, verified=False, primary=True)
    User.objects.filter(pk=member.pk).update(email=squatted)
    with pytest.raises(CommandError, match="has not verified it"):
        call_command("token_create", "--tenant", "lab-b", "--email", squatted)
    with pytest.raises(Conflict):
        tenant_create(slug="squat-lab", name="Squat", domain="squat.test", owner_email=squatted)
    member.refresh_from_db()
    assert not Membership.objects.filter(user=member, tenant__slug__in=["lab-b", "squat-lab"]).exists()
    unverified = User.objects.create_user(email=unique_email("unverified"), password=PASSWORD)
    EmailAddress.objects.create(user=unverified, email=unverified.email, verified=False, primary=True)
    with pytest.raises(Conflict) as refused:
        membership_set(tenant=tenant_a, user=unverified, role=Role.VIEWER)
    assert refused.value.code == "email_unverified"


def test_changing_an_address_takes_effect_only_once_confirmed_and_is_audited(tenant_a, tenant_b, make_member) -> None:
    member = make_member(tenant_a, Role.ANALYST)
    membership_set(tenant=tenant_b, user=member, role=Role.VIEWER)
    old, new = member.email, unique_email("moved")
    browser = _signed_in(member, "lab-a.test")
    mail.outbox.clear()
    assert browser.post("/accounts/email/", {"action_add": "", "email": new}).status_code == 302
    member.refresh_from_db()
    assert member.email == old  # not yet
    page = browser.get("/accounts/email/").content.decode()
    assert old in page and new in page  # the current address, and the one waiting for confirmation
    key = re.search(r"/accounts/confirm-email/([^/\s]+)/", mail.outbox[-1].body).group(1)
    assert mail.outbox[-1].to == [new]
    assert browser.post(f"/accounts/confirm-email/{key}/").status_code == 302
    member.refresh_from_db()
    assert member.email == new and EmailAddress.objects.get(user=member, email=new).verified
    assert not EmailAddress.objects.filter(user=member, email=old).exists()
    assert any(message.to == [old] for message in mail.outbox)  # the old address is told of the change
    for tenant in (tenant_a, tenant_b):  # where it happened and in every workspace the account belongs to
        changed = _events(tenant, "auth.email_changed")[-1]
        assert changed.details == {"from": old, "to": new} and changed.actor_id == member.pk
        assert _events(tenant, "auth.email_added")[-1].details["email"] == new
        assert _events(tenant, "auth.email_confirmed")[-1].details["email"] == new
    dropped = unique_email("dropped")
    browser.post("/accounts/email/", {"action_add": "", "email": dropped})
    assert browser.post("/accounts/email/", {"action_remove": "", "email": dropped}).status_code == 302
    assert _events(tenant_a, "auth.email_removed")[-1].details["email"] == dropped


def test_self_signup_signs_in_only_after_the_address_is_confirmed(monkeypatch) -> None:
    from core.config import config_reset

    monkeypatch.setenv("BDT_SELF_SIGNUP_ALLOWED", "1")
    config_reset()
    try:
        address = unique_email("selfsigned")
        browser = Client(HTTP_HOST="platform.test")
        mail.outbox.clear()
        signup = browser.post("/accounts/signup/", {"email": address, "password1": PASSWORD, "password2": PASSWORD})
        assert signup.status_code == 302 and "confirm-email" in signup["Location"]
        assert "_auth_user_id" not in browser.session  # not signed in with an unconfirmed address
        again = Client(HTTP_HOST="platform.test")
        again.post("/accounts/login/", {"login": address, "password": PASSWORD})
        assert "_auth_user_id" not in again.session
        key = re.search(r"/accounts/confirm-email/([^/\s]+)/", mail.outbox[-1].body).group(1)
        assert browser.post(f"/accounts/confirm-email/{key}/").status_code == 302
        assert EmailAddress.objects.get(email=address).verified
        assert _signed_in(User.objects.get(email=address), "platform.test").session["_auth_user_id"]
    finally:
        monkeypatch.undo()
        config_reset()


def test_a_claim_nobody_proved_never_blocks_the_real_owner(api, tenant_a, django_capture_on_commit_callbacks) -> None:
    """An account that signed up with someone else's address and never confirmed it (so it cannot sign in) holds the
    address as its sign-in address; the address's owner, invited, still joins — the squatting account is released."""
    address = unique_email("owner-of-address")
    squatter = User.objects.create_user(email=address, password=PASSWORD)
    EmailAddress.objects.create(user=squatter, email=address, verified=False, primary=True)
    owner = api(tenant_a, Role.OWNER)
    assert _invite(owner, address, "analyst", django_capture_on_commit_callbacks)["status"] == "invited"
    link = re.search(r"http://lab-a\.test(/invitations/[^/\s]+/)", mail.outbox[-1].body).group(1)
    real = Client(HTTP_HOST="lab-a.test")
    real.get(link)
    signup = real.post(
        "/accounts/signup/", {"email": address, "password1": PASSWORD, "password2": PASSWORD, "next": link}
    )
    assert signup.status_code == 302, signup.content
    assert real.post(link).status_code == 302
    joined = User.objects.get(email=address)
    assert joined.pk != squatter.pk and Membership.objects.filter(tenant=tenant_a, user=joined).exists()
    squatter.refresh_from_db()
    assert squatter.is_active is False and squatter.email.endswith("@invalid")
    with schema_context("public"):
        released = AuditEvent.objects.filter(action="auth.email_released", target_id=str(squatter.pk)).get()
    assert released.details == {"email": address, "reason": "invitation_signup", "account_deactivated": True}


def test_operator_made_accounts_from_before_are_vouched_by_the_migration() -> None:
    import importlib

    from django.apps import apps

    migration = importlib.import_module("tenants.migrations.0004_operator_addresses_verified")
    operator_made = User.objects.create_user(email=unique_email("operator"), password=PASSWORD)
    self_typed = User.objects.create_user(email=unique_email("typed"), password=PASSWORD)
    EmailAddress.objects.create(user=self_typed, email=self_typed.email, verified=False, primary=True)
    migration.vouch_operator_addresses(apps, None)
    assert EmailAddress.objects.get(user=operator_made).verified
    assert not EmailAddress.objects.get(user=self_typed).verified


def test_without_an_invitation_an_unconfirmed_sign_up_still_holds_its_address(monkeypatch) -> None:
    """The documented limit: with open sign-up and no invitation, the real owner is told an account exists (by mail
    to the address) and no second account is made; no reset link goes to the unconfirmed address."""
    from core.config import config_reset

    address = unique_email("held")
    squatter = User.objects.create_user(email=address, password=PASSWORD)
    EmailAddress.objects.create(user=squatter, email=address, verified=False, primary=True)
    monkeypatch.setenv("BDT_SELF_SIGNUP_ALLOWED", "1")
    config_reset()
    try:
        mail.outbox.clear()
        browser = Client(HTTP_HOST="platform.test")
        browser.post("/accounts/signup/", {"email": address, "password1": PASSWORD, "password2": PASSWORD})
        assert User.objects.filter(email=address).count() == 1
        assert [m.to for m in mail.outbox] == [[address]] and "already" in mail.outbox[0].body.lower()
        browser.post("/accounts/password/reset/", {"email": address})
        assert not any("/password/reset/key/" in m.body for m in mail.outbox)
    finally:
        monkeypatch.undo()
        config_reset()
