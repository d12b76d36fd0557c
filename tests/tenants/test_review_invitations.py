"""Review regressions: an invitation link opens sign-up only for the invited address, and is single use."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from core.errors import NotFound
from tenants.members import invitation_accept
from tenants.models import Invitation, User
from tenants.roles import Role
from tenants.services import user_get_or_create
from tests.conftest import PASSWORD, unique_email

pytestmark = pytest.mark.django_db


def _invite(api, tenant, django_capture_on_commit_callbacks) -> tuple[str, str]:
    owner = api(tenant, Role.OWNER)
    address = unique_email("invitee")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post("/api/v1/members", {"email": address, "role": "analyst"})
    assert response.status_code == 201, response.content
    path = re.search(r"http://lab-a\.test(/invitations/[^/\s]+/)", mail.outbox[-1].body).group(1)  # type: ignore[union-attr]
    return address, path


def test_an_invitation_link_opens_sign_up_only_for_the_invited_address(
    api, tenant_a, django_capture_on_commit_callbacks
) -> None:
    address, path = _invite(api, tenant_a, django_capture_on_commit_callbacks)
    browser = Client(HTTP_HOST="lab-a.test")
    assert browser.get(path).status_code == 200
    other = unique_email("stranger")
    refused = browser.post(
        "/accounts/signup/", {"email": other, "password1": PASSWORD, "password2": PASSWORD, "next": path}
    )
    assert refused.status_code == 200  # the form again, with the error
    assert b"the address the invitation was sent to" in refused.content
    assert not User.objects.filter(email=other).exists()
    ok = browser.post("/accounts/signup/", {"email": address, "password1": PASSWORD, "password2": PASSWORD})
    assert ok.status_code == 302, ok.content
    assert User.objects.filter(email=address).exists()


def test_an_invitation_is_accepted_once_even_when_already_fetched(
    api, tenant_a, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    address, path = _invite(api, tenant_a, django_capture_on_commit_callbacks)
    secret = path.split("/")[2]
    user = user_get_or_create(email=address, password=PASSWORD)  # an account that verified the address
    invitation_accept(tenant=tenant_a, secret=secret, user=user)
    # A second accept that found the invitation pending just before the first one committed (simulated: the
    # pending lookup answers with the stale object) must still be refused once it holds the row lock.
    stale = Invitation.objects.get(email=address)
    stale.accepted_at = None
    import tenants.members as members

    monkeypatch.setattr(members, "invitation_pending_get", lambda **_: stale)
    with pytest.raises(NotFound):
        invitation_accept(tenant=tenant_a, secret=secret, user=user)


def test_configuration_history_shows_the_newest_changes_when_limited(tenant_a) -> None:
    """Review regression: the history page is capped; the cap must drop the oldest records, not the newest."""
    from django_tenants.utils import tenant_context

    from audit.trail.history import configuration_history
    from datasets.models import Study

    with tenant_context(tenant_a):
        study = Study.objects.create(slug="hist-cap", name="Before")
        study.name = "After"
        study.save()
        newest = configuration_history(tenant=tenant_a, kind="study", limit=1)
    assert [item.label for item in newest] == ["hist-cap"]
    assert newest[0].action == "changed" or any(change.new == "After" for change in newest[0].changes)
