"""Login CSRF through the sign-in handoff: a link made by someone else never switches a signed-in visitor silently;
they see both addresses and switch only by confirming (a POST with the CSRF token)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from tenants.models import Tenant, User
from tenants.roles import Role
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _signed_in(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value is not None else None


def _handoff_path(platform: Client, tenant: Tenant) -> str:
    """What the attacker keeps: the handoff address the platform host sends them to (their own ticket)."""
    opened = platform.get(f"/workspaces/{tenant.slug}/open/")
    assert opened.status_code == 302, opened
    return "/" + opened["Location"].split("/", 3)[3]


def _browser(tenant: Tenant, user: User) -> Client:
    client = Client(HTTP_HOST=tenant.primary_domain_name() or "", enforce_csrf_checks=True)
    assert client.login(email=user.email, password=PASSWORD)
    return client


def test_a_handoff_link_of_someone_else_does_not_switch_a_signed_in_visitor(
    tenant_a: Tenant, make_member: Callable[..., User], platform_client: Callable[..., Client]
) -> None:
    attacker = make_member(tenant_a, Role.ANALYST)
    victim = make_member(tenant_a, Role.STEWARD)
    path = _handoff_path(platform_client(attacker), tenant_a)
    browser = _browser(tenant_a, victim)

    shown = browser.get(path)
    assert shown.status_code == 200
    page = shown.content.decode()
    assert f'data-current="{victim.email}"' in page and f'data-named="{attacker.email}"' in page
    assert 'method="post"' in page and "csrfmiddlewaretoken" in page
    assert _signed_in(browser) == victim.pk  # still the victim

    forged = browser.post(path)  # a cross-site form: no CSRF token
    assert forged.status_code == 403
    assert _signed_in(browser) == victim.pk
    assert browser.get(path)["Location"].startswith("/accounts/login/")  # the ticket was used up when shown
    assert _signed_in(browser) == victim.pk


def test_a_visitor_who_confirms_switches_and_the_same_person_proceeds(
    tenant_a: Tenant, make_member: Callable[..., User], platform_client: Callable[..., Client]
) -> None:
    other = make_member(tenant_a, Role.ANALYST)
    current = make_member(tenant_a, Role.ANALYST)
    browser = _browser(tenant_a, current)
    page = browser.get(_handoff_path(platform_client(other), tenant_a))
    token = page.context["csrf_token"]
    switched = browser.post(page.request["PATH_INFO"], {"csrfmiddlewaretoken": str(token)})
    assert switched.status_code == 302 and switched["Location"] == "/"
    assert _signed_in(browser) == other.pk

    same: Any = browser.get(_handoff_path(platform_client(other), tenant_a))  # already signed in as that person
    assert same.status_code == 302 and same["Location"] == "/" and _signed_in(browser) == other.pk
    stale = browser.post("/accounts/handoff/whatever/", {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value})
    assert stale["Location"].startswith("/accounts/login/") and _signed_in(browser) == other.pk
