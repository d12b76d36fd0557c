"""An invitation accepted from "My workspaces" on the platform host obeys the rules of the e-mailed link: its inviter
must still be able to make it (an active account with the role it needs) and the workspace must not be frozen."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tenants.models import Invitation, Membership, Tenant, User
from tenants.roles import Role
from tests.conftest import unique_email

pytestmark = pytest.mark.django_db


def _invite(api: Any, tenant: Tenant, role: str) -> tuple[Any, Invitation, str]:
    """The owner of ``tenant`` invites a fresh address as ``role``; returns (owner client, invitation, address)."""
    owner = api(tenant, Role.OWNER)
    address = unique_email("invited")
    response = owner.post("/api/v1/members", {"email": address, "role": role})
    assert response.status_code in (200, 201) and response.json()["status"] == "invited", response.content
    return owner, Invitation.objects.get(tenant=tenant, email=address), address


def _listed(client: Client) -> list[str]:
    return re.findall(r"/invitations/(\d+)/accept/", client.get("/").content.decode())


def _refused(client: Client, invitation: Invitation, user: User, tenant: Tenant) -> None:
    assert str(invitation.pk) not in _listed(client)
    response = client.post(f"/invitations/{invitation.pk}/accept/", follow=True)
    assert response.status_code == 200
    assert "This invitation does not exist, has expired or was already used." in response.content.decode()
    assert not Membership.objects.filter(user=user, tenant=tenant).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


@pytest.mark.parametrize("change", ["deactivated", "demoted"])
def test_an_invitation_its_inviter_could_no_longer_make_is_neither_listed_nor_accepted(
    change: str, api: Any, tenant_a: Tenant, person: Callable[..., User], platform_client: Callable[..., Client]
) -> None:
    owner, invitation, address = _invite(api, tenant_a, Role.OWNER)
    invited = person(address)
    client = platform_client(invited)
    assert str(invitation.pk) in _listed(client)  # listed while the inviter may make it

    if change == "deactivated":  # an operator's edit outside the members API
        User.objects.filter(pk=owner.user.pk).update(is_active=False)
    else:
        Membership.objects.filter(user=owner.user, tenant=tenant_a).update(role=Role.STEWARD)

    _refused(client, invitation, invited, tenant_a)


def test_an_invitation_to_a_frozen_workspace_is_neither_listed_nor_accepted(
    api: Any, tenant_a: Tenant, person: Callable[..., User], platform_client: Callable[..., Client]
) -> None:
    _owner, invitation, address = _invite(api, tenant_a, Role.STEWARD)
    invited = person(address)
    client = platform_client(invited)
    assert str(invitation.pk) in _listed(client)
    Tenant.objects.filter(pk=tenant_a.pk).update(suspended_at=timezone.now())
    _refused(client, invitation, invited, tenant_a)
    Tenant.objects.filter(pk=tenant_a.pk).update(suspended_at=None, delete_after=timezone.now())
    _refused(client, invitation, invited, tenant_a)


def test_an_invitation_whose_inviter_still_may_is_accepted_with_its_role(
    api: Any, tenant_a: Tenant, person: Callable[..., User], platform_client: Callable[..., Client]
) -> None:
    _owner, invitation, address = _invite(api, tenant_a, Role.STEWARD)
    invited = person(address)
    client = platform_client(invited)
    assert client.post(f"/invitations/{invitation.pk}/accept/").status_code == 302
    assert Membership.objects.get(user=invited, tenant=tenant_a).role == Role.STEWARD
