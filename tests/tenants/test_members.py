"""Members API: list, invite (existing users now, others by an e-mailed link), role changes, removal, owner rules."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from core.errors import NotFound
from tenants.members import invitation_accept
from tenants.models import Invitation, Membership, User
from tenants.roles import Role
from tenants.services import user_get_or_create
from tests.conftest import PASSWORD, ApiClient, unique_email

pytestmark = pytest.mark.django_db


def _actions(tenant) -> list[str]:
    with schema_context(tenant.schema_name):
        return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def _error(response) -> dict:
    return response.json()["error"]


def test_owner_lists_members_and_lower_roles_may_not(api, tenant_a) -> None:
    owner = api(tenant_a, Role.OWNER)
    analyst = api(tenant_a, Role.ANALYST)
    listing = owner.get("/api/v1/members")
    assert listing.status_code == 200
    emails = {item["email"]: item["role"] for item in listing.json()["items"]}
    assert emails[owner.user.email] == "owner" and emails[analyst.user.email] == "analyst"
    assert listing.json()["total"] == len(emails)
    for role in (Role.ANALYST, Role.VIEWER):
        denied = api(tenant_a, role).get("/api/v1/members")
        assert denied.status_code == 403 and _error(denied)["code"] == "role_insufficient"


def test_inviting_an_existing_user_adds_them_now(
    api, tenant_a, make_member, django_capture_on_commit_callbacks
) -> None:
    steward = api(tenant_a, Role.STEWARD)
    existing = user_get_or_create(email=unique_email("existing"), password=PASSWORD)  # verified address
    with django_capture_on_commit_callbacks(execute=True):
        response = steward.post("/api/v1/members", {"email": existing.email.upper(), "role": "analyst"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "member" and body["member"]["role"] == "analyst" and body["invitation"] is None
    assert Membership.objects.get(tenant=tenant_a, user=existing).role == "analyst"
    assert "member.added" in _actions(tenant_a)
    assert mail.outbox[-1].to == [existing.email] and "Lab A" in mail.outbox[-1].subject
    again = steward.post("/api/v1/members", {"email": existing.email, "role": "viewer"})
    assert again.status_code == 409 and _error(again)["code"] == "already_member"


def test_inviting_an_unknown_address_mails_a_link_that_signs_up_and_accepts(
    api, tenant_a, django_capture_on_commit_callbacks
) -> None:
    owner = api(tenant_a, Role.OWNER)
    address = unique_email("newcomer")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post("/api/v1/members", {"email": address, "role": "viewer"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "invited" and body["member"] is None
    assert body["invitation"]["status"] == "pending" and body["invitation"]["role"] == "viewer"
    assert not User.objects.filter(email=address).exists()
    assert "member.invited" in _actions(tenant_a)
    message = mail.outbox[-1]
    assert message.to == [address]
    link = re.search(r"http://lab-a\.test(/invitations/[^/\s]+/)", message.body)
    assert link, message.body
    path = link.group(1)
    secret = path.split("/")[2]
    assert secret not in str(Invitation.objects.filter(email=address).values().first())
    assert owner.get("/api/v1/invitations").json()["items"][0]["email"] == address

    browser = Client(HTTP_HOST="lab-a.test")
    assert b"password1" not in browser.get("/accounts/signup/").content  # sign-up is closed without an invitation
    landing = browser.get(path)
    assert landing.status_code == 200 and b"Create an account" in landing.content
    signup = browser.post(
        "/accounts/signup/", {"email": address, "password1": PASSWORD, "password2": PASSWORD, "next": path}
    )
    assert signup.status_code == 302, signup.content
    accepted = browser.post(path)
    assert accepted.status_code == 302 and accepted["Location"] == "/"
    user = User.objects.get(email=address)
    assert Membership.objects.get(tenant=tenant_a, user=user).role == "viewer"
    assert browser.get("/").status_code == 200
    assert Invitation.objects.get(email=address).status == "accepted"
    assert browser.get(path).status_code == 404  # a used link is dead
    assert "member.invitation_accepted" in _actions(tenant_a)


def test_an_invitation_for_another_address_is_refused(api, tenant_a, make_member, django_capture_on_commit_callbacks):
    owner = api(tenant_a, Role.OWNER)
    with django_capture_on_commit_callbacks(execute=True):
        owner.post("/api/v1/members", {"email": unique_email("invitee"), "role": "analyst"})
    path = re.search(r"(/invitations/[^/\s]+/)", mail.outbox[-1].body).group(1)
    other = User.objects.create_user(email=unique_email("other"), password=PASSWORD)
    browser = Client(HTTP_HOST="lab-a.test")
    browser.force_login(other)
    response = browser.post(path)
    assert response.status_code == 403 and b"another e-mail address" in response.content
    assert not Membership.objects.filter(tenant=tenant_a, user=other).exists()


def test_withdrawn_and_forged_invitation_links_are_dead(api, tenant_a, tenant_b, django_capture_on_commit_callbacks):
    owner = api(tenant_a, Role.OWNER)
    with django_capture_on_commit_callbacks(execute=True):
        created = owner.post("/api/v1/members", {"email": unique_email("gone"), "role": "analyst"}).json()
    path = re.search(r"(/invitations/[^/\s]+/)", mail.outbox[-1].body).group(1)
    foreign_owner = api(tenant_b, Role.OWNER)
    assert foreign_owner.delete(f"/api/v1/invitations/{created['invitation']['id']}").status_code == 404
    assert Client(HTTP_HOST="lab-b.test").get(path).status_code == 404  # the link is bound to its tenant
    withdrawn = owner.delete(f"/api/v1/invitations/{created['invitation']['id']}")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "revoked"
    assert owner.delete(f"/api/v1/invitations/{created['invitation']['id']}").status_code == 409
    assert owner.delete("/api/v1/invitations/999999").status_code == 404
    assert Client(HTTP_HOST="lab-a.test").get(path).status_code == 404
    assert Client(HTTP_HOST="lab-a.test").get("/invitations/forged-secret/").status_code == 404


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"email": "not-an-address", "role": "analyst"}, "invalid_email"),
        ({"email": "x@example.org", "role": "superuser"}, "invalid_input"),
        ({"role": "analyst"}, "invalid_input"),
    ],
)
def test_bad_invitations_are_422(api, tenant_a, payload, code) -> None:
    response = api(tenant_a, Role.OWNER).post("/api/v1/members", payload)
    assert response.status_code == 422 and _error(response)["code"] == code


def test_analysts_and_viewers_cannot_manage_members(api, tenant_a) -> None:
    target = api(tenant_a, Role.ANALYST)
    for role in (Role.ANALYST, Role.VIEWER):
        client = api(tenant_a, role)
        assert client.post("/api/v1/members", {"email": unique_email(), "role": "viewer"}).status_code == 403
        assert client.patch(f"/api/v1/members/{target.user.email}", {"role": "viewer"}).status_code == 403
        assert client.delete(f"/api/v1/members/{target.user.email}").status_code == 403


def test_a_steward_cannot_escalate_to_owner_or_touch_owners(api, tenant_a) -> None:
    owner = api(tenant_a, Role.OWNER)
    steward = api(tenant_a, Role.STEWARD)
    analyst = api(tenant_a, Role.ANALYST)
    attempts = [
        steward.patch(f"/api/v1/members/{steward.user.email}", {"role": "owner"}),
        steward.patch(f"/api/v1/members/{analyst.user.email}", {"role": "owner"}),
        steward.post("/api/v1/members", {"email": unique_email(), "role": "owner"}),
        steward.patch(f"/api/v1/members/{owner.user.email}", {"role": "analyst"}),
        steward.delete(f"/api/v1/members/{owner.user.email}"),
    ]
    for response in attempts:
        assert response.status_code == 403, response.content
        assert _error(response)["code"] == "owner_only"
    assert Membership.objects.get(tenant=tenant_a, user=steward.user).role == "steward"
    assert Membership.objects.get(tenant=tenant_a, user=owner.user).role == "owner"
    changed = steward.patch(f"/api/v1/members/{analyst.user.email}", {"role": "viewer"})
    assert changed.status_code == 200 and changed.json()["role"] == "viewer"
    promoted = owner.patch(f"/api/v1/members/{steward.user.email}", {"role": "owner"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "owner"
    assert "member.role_changed" in _actions(tenant_a)


def test_the_last_owner_can_be_neither_demoted_nor_removed(api, tenant_a) -> None:
    owner = api(tenant_a, Role.OWNER)
    demote = owner.patch(f"/api/v1/members/{owner.user.email}", {"role": "steward"})
    assert demote.status_code == 409 and _error(demote)["code"] == "last_owner"
    remove = owner.delete(f"/api/v1/members/{owner.user.email}")
    assert remove.status_code == 409 and _error(remove)["code"] == "last_owner"
    second = api(tenant_a, Role.OWNER)
    assert owner.patch(f"/api/v1/members/{second.user.email}", {"role": "steward"}).status_code == 200


def test_unknown_and_foreign_members_are_404(api, tenant_a, tenant_b) -> None:
    owner = api(tenant_a, Role.OWNER)
    foreigner = api(tenant_b, Role.ANALYST)
    for email in ("nobody@example.org", foreigner.user.email):
        assert owner.patch(f"/api/v1/members/{email}", {"role": "viewer"}).status_code == 404
        assert owner.delete(f"/api/v1/members/{email}").status_code == 404
    assert Membership.objects.get(tenant=tenant_b, user=foreigner.user).role == "analyst"


def test_removing_a_member_kills_their_tokens_and_session_access_at_once(api, tenant_a) -> None:
    owner = api(tenant_a, Role.OWNER)
    leaver = api(tenant_a, Role.ANALYST)
    session = Client(HTTP_HOST="lab-a.test")
    session.force_login(leaver.user)
    assert leaver.get("/api/v1/me").status_code == 200
    assert session.get("/api/v1/me").status_code == 200 and session.get("/").status_code == 200
    removed = owner.delete(f"/api/v1/members/{leaver.user.email}")
    assert removed.status_code == 204
    assert leaver.get("/api/v1/me").status_code == 401
    assert session.get("/api/v1/me").status_code == 403
    assert session.get("/").status_code == 403
    assert "member.removed" in _actions(tenant_a)
    # Re-adding the person does not revive the old token.
    owner.post("/api/v1/members", {"email": leaver.user.email, "role": "analyst"})
    assert ApiClient(host="lab-a.test", token=leaver.token).get("/api/v1/me").status_code == 401


def test_invitations_end_with_their_inviters_right_to_make_them(
    api, tenant_a, django_capture_on_commit_callbacks
) -> None:
    """A removed steward's pending invitations die with their membership, and an owner demoted to steward loses
    their pending owner invitations (their other ones stay: a steward may make those). Before, the links stayed
    valid for their full lifetime: a steward about to be removed could invite outsiders who joined afterwards (as
    analysts, at the workspace's default data level), and a demoted owner's invitation still made a new owner."""
    owner = api(tenant_a, Role.OWNER)
    steward, second_owner = api(tenant_a, Role.STEWARD), api(tenant_a, Role.OWNER)

    def invite(client, role: str) -> tuple[int, str]:
        with django_capture_on_commit_callbacks(execute=True):
            made = client.post("/api/v1/members", {"email": unique_email("outsider"), "role": role})
        assert made.status_code == 201 and made.json()["status"] == "invited", made.content
        path = re.search(r"(/invitations/[^/\s]+/)", mail.outbox[-1].body).group(1)
        return made.json()["invitation"]["id"], path

    by_steward, steward_link = invite(steward, "analyst")
    as_owner, owner_link = invite(second_owner, "owner")
    as_analyst, analyst_link = invite(second_owner, "analyst")

    assert owner.delete(f"/api/v1/members/{steward.user.email}").status_code == 204
    assert owner.patch(f"/api/v1/members/{second_owner.user.email}", {"role": "steward"}).status_code == 200
    assert Client(HTTP_HOST="lab-a.test").get(steward_link).status_code == 404
    assert Client(HTTP_HOST="lab-a.test").get(owner_link).status_code == 404
    assert Client(HTTP_HOST="lab-a.test").get(analyst_link).status_code == 200
    statuses = dict(
        Invitation.objects.filter(pk__in=[by_steward, as_owner, as_analyst]).values_list("pk", "revoked_at")
    )
    assert statuses[by_steward] is not None and statuses[as_owner] is not None and statuses[as_analyst] is None
    assert {i["id"] for i in owner.get("/api/v1/invitations").json()["items"]} >= {as_analyst}
    with schema_context(tenant_a.schema_name):
        reasons = dict(
            AuditEvent.objects.filter(action="member.invitation_revoked").values_list("target_id", "details__reason")
        )
    assert reasons == {str(by_steward): "inviter_removed", str(as_owner): "inviter_role_changed"}


@pytest.mark.parametrize("loss", ["account deactivated", "account deleted", "role lowered outside the members API"])
def test_an_invitation_link_dies_however_its_inviter_lost_the_right_to_make_it(
    api, tenant_a, django_capture_on_commit_callbacks, loss: str
) -> None:
    """The members API withdraws invitations when it removes or demotes their inviter; other ways of losing the
    right (the platform deactivates or deletes the account, an operator edits the membership) do not pass there, so
    the link itself is checked against its inviter when it is used. Before, such a link still made a member."""
    steward, owner = api(tenant_a, Role.STEWARD), api(tenant_a, Role.OWNER)
    address = unique_email("outsider")
    with django_capture_on_commit_callbacks(execute=True):
        made = steward.post("/api/v1/members", {"email": address, "role": "analyst"})
    assert made.status_code == 201, made.content
    listed = {i["id"] for i in owner.get("/api/v1/invitations").json()["items"]}
    assert made.json()["invitation"]["id"] in listed
    path = re.search(r"(/invitations/[^/\s]+/)", mail.outbox[-1].body).group(1)
    invitee = User.objects.create_user(email=address, password=PASSWORD)
    EmailAddress.objects.create(user=invitee, email=address, verified=True, primary=True)
    browser = Client(HTTP_HOST="lab-a.test")
    browser.force_login(invitee)
    assert browser.get(path).status_code == 200  # valid while the inviter may make it

    if loss == "account deactivated":
        User.objects.filter(pk=steward.user.pk).update(is_active=False)
    elif loss == "account deleted":
        User.objects.filter(pk=steward.user.pk).delete()
    else:
        Membership.objects.filter(tenant=tenant_a, user=steward.user).update(role=Role.ANALYST)

    page = browser.get(path)
    assert page.status_code == 404
    listed = {i["id"] for i in owner.get("/api/v1/invitations").json()["items"]}
    assert made.json()["invitation"]["id"] not in listed  # the list no longer offers it as pending
    accepted = browser.post(path)
    assert accepted.status_code == 404
    assert not Membership.objects.filter(tenant=tenant_a, user=invitee).exists()
    with pytest.raises(NotFound):
        invitation_accept(tenant=tenant_a, secret=path.split("/")[2], user=invitee)
    assert not Membership.objects.filter(tenant=tenant_a, user=invitee).exists()


def test_an_owner_invitation_needs_an_owner_when_it_is_used(api, tenant_a, django_capture_on_commit_callbacks) -> None:
    owner = api(tenant_a, Role.OWNER)
    api(tenant_a, Role.OWNER)  # another owner, so this one may be lowered
    with django_capture_on_commit_callbacks(execute=True):
        as_owner = owner.post("/api/v1/members", {"email": unique_email("heir"), "role": "owner"})
        as_steward = owner.post("/api/v1/members", {"email": unique_email("aide"), "role": "steward"})
    assert as_owner.status_code == 201 and as_steward.status_code == 201
    owner_link, steward_link = (re.search(r"(/invitations/[^/\s]+/)", m.body).group(1) for m in mail.outbox[-2:])
    Membership.objects.filter(tenant=tenant_a, user=owner.user).update(role=Role.STEWARD)  # not via the API
    assert Client(HTTP_HOST="lab-a.test").get(owner_link).status_code == 404
    assert Client(HTTP_HOST="lab-a.test").get(steward_link).status_code == 200  # a steward may still make this one


def test_the_platform_admin_does_not_remove_members_around_the_rules(api, tenant_a) -> None:
    """Removing a member is the governed action (``DELETE /api/v1/members/{email}``, the console): it revokes their
    tokens, grants, team seats and pending requests. The platform admin's workspace page lists memberships but cannot
    delete them. Before, deleting the row there left all of that in place, and re-adding the person later revived
    their old tokens, grants and teams."""
    member = api(tenant_a, Role.ANALYST)
    admin_user = User.objects.create_superuser(email=unique_email("root"), password=PASSWORD)
    platform = Client(HTTP_HOST="platform.test")
    platform.force_login(admin_user)
    page = platform.get(f"/admin/tenants/tenant/{tenant_a.pk}/change/")
    assert page.status_code == 200 and member.user.email.encode() in page.content
    assert b'name="memberships-0-DELETE"' not in page.content
