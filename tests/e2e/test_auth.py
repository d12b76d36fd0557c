"""Signing in and out on a tenant host, and what people who may not see a workspace get instead."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tenants.roles import Role

pytestmark = pytest.mark.e2e

BAD_CREDENTIALS = re.compile(r"e-?mail address and/or password you specified are not correct", re.I)


def test_sign_in_shows_tenant_user_and_role(page, site, e2e_tenant, make_user, screenshot):
    user = make_user((e2e_tenant, Role.STEWARD))

    response = site.sign_in(page, user.email, user.password)

    assert response.status == 200
    expect(page).to_have_url(site.url("/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(e2e_tenant.name)
    hero = page.locator(".hero")
    expect(hero).to_contain_text(user.email)
    expect(hero).to_contain_text("with the role Steward")
    # The top bar shows the workspace and who is signed in, with their role.
    expect(page.locator(".tenant-badge")).to_have_text(e2e_tenant.name)
    expect(page.get_by_label("User menu")).to_contain_text(user.email)
    expect(page.locator(".role-pill").first).to_have_text("Steward")
    expect(page).to_have_title(re.compile(re.escape(e2e_tenant.name)))
    screenshot(page)


def test_wrong_password_shows_error_and_reveals_nothing(page, site, e2e_tenant, make_user, screenshot):
    user = make_user((e2e_tenant, Role.ANALYST))

    response = site.sign_in(page, user.email, "not-the-password-123")

    # Still on the sign-in page, with a clear error, and not signed in.
    assert response.status == 200
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    error = page.get_by_text(BAD_CREDENTIALS)
    expect(error).to_be_visible()
    screenshot(page)
    expect(page.get_by_label("User menu")).to_have_count(0)
    body = page.locator("body")
    expect(body).not_to_contain_text("with the role")
    expect(body).not_to_contain_text("Your data")
    # The e-mail the user typed is kept; the password is not echoed back.
    expect(page.get_by_label(re.compile("e-?mail", re.I))).to_have_value(user.email)
    expect(page.get_by_label(re.compile("password", re.I))).to_have_value("")
    error_text = error.inner_text()

    # An unknown e-mail gets exactly the same answer: the page does not tell whether an account exists.
    site.sign_in(page, f"nobody-{user.pk}@example.org", "not-the-password-123")
    expect(page.get_by_text(BAD_CREDENTIALS)).to_have_text(error_text)

    # And the workspace stays closed.
    page.goto(site.url("/"))
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))


def test_non_member_gets_no_access_page(page, site, e2e_tenant_b, make_user, screenshot):
    outsider = make_user((e2e_tenant_b, Role.OWNER))  # a member elsewhere, not of the host's tenant

    site.sign_in(page, outsider.email, outsider.password)

    expect(page.get_by_role("heading", level=1)).to_have_text("No access")
    expect(page.locator(".error-page")).to_contain_text(f"You are signed in as {outsider.email}")
    expect(page.locator(".error-page")).to_contain_text("not a member of this workspace")
    screenshot(page)
    for path in ("/", "/settings/"):
        response = page.goto(site.url(path))
        assert response.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("No access")
        body = page.locator("body")
        # None of the workspace's content, and no role here.
        expect(body).not_to_contain_text("Your data")
        expect(body).not_to_contain_text("with the role")
        expect(body).not_to_contain_text("Personal access tokens")
        expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    # The way out: the user menu offers the workspaces the user does belong to.
    page.get_by_label("User menu").click()
    expect(page.get_by_role("menuitem", name=re.compile(re.escape(e2e_tenant_b.name)))).to_be_visible()


def test_sign_out(page, site, e2e_tenant, make_user, screenshot):
    user = make_user((e2e_tenant, Role.VIEWER))
    site.sign_in(page, user.email, user.password)
    expect(page.locator(".hero")).to_contain_text(user.email)

    page.get_by_label("User menu").click()
    with page.expect_navigation():
        page.get_by_role("menuitem", name="Sign out").click()

    expect(page).to_have_url(site.url("/accounts/login/"))
    expect(page.get_by_label("User menu")).to_have_count(0)
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    screenshot(page)
    # The session is gone: the workspace sends us to sign in again.
    page.goto(site.url("/"))
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page.locator("body")).not_to_contain_text(user.email)


def test_anonymous_visit_redirects_to_sign_in_and_back(page, site, e2e_tenant, make_user, screenshot):
    user = make_user((e2e_tenant, Role.ANALYST))

    page.goto(site.url("/settings/"))

    expect(page).to_have_url(site.url("/accounts/login/?next=/settings/"))
    expect(page.get_by_role("heading", name=re.compile("sign in", re.I))).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("Personal access tokens")
    screenshot(page)

    # Signing in from there leads to the page that was asked for.
    page.get_by_label(re.compile("e-?mail", re.I)).fill(user.email)
    page.get_by_label(re.compile("password", re.I)).fill(user.password)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    expect(page).to_have_url(site.url("/settings/"))
    expect(page.get_by_role("heading", name="Personal access tokens")).to_be_visible()


def test_unknown_host_says_no_workspace_is_served(page, e2e_live_server, screenshot):
    response = page.goto(e2e_live_server.url("no-such-lab-e2e.localhost"))

    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.locator(".error-page")).to_contain_text("No workspace is served at this address.")
    screenshot(page)


def test_unknown_host_404_page_is_styled(page, e2e_live_server):
    page.goto(e2e_live_server.url("no-such-lab-e2e.localhost"))  # returns after the load event (stylesheets done)

    expect(page.locator(".error-page")).to_have_css("text-align", "center", timeout=1_000)
