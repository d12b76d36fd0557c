"""The user menu's workspace switcher for someone who belongs to two workspaces."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tenants.roles import Role

pytestmark = pytest.mark.e2e


def test_switcher_lists_both_workspaces_and_leads_to_the_other(
    page, site, site_b, e2e_tenant, e2e_tenant_b, make_user, screenshot
):
    user = make_user((e2e_tenant, Role.ANALYST), (e2e_tenant_b, Role.OWNER))
    site.sign_in(page, user.email, user.password)
    expect(page.get_by_role("heading", level=1)).to_have_text(e2e_tenant.name)

    page.get_by_label("User menu").click()
    # Both workspaces are listed, each with the user's role there; the current one is marked.
    here = page.get_by_role("menuitem", name=f"{e2e_tenant.name} Analyst", exact=True)
    there = page.get_by_role("menuitem", name=f"{e2e_tenant_b.name} Owner", exact=True)
    expect(here).to_be_visible()
    expect(there).to_be_visible()
    expect(here).to_have_class(re.compile(r"\bis-current\b"))
    expect(there).not_to_have_class(re.compile(r"\bis-current\b"))
    expect(there).to_have_attribute("href", site_b.url("/"))
    screenshot(page, "menu")

    there.click()

    # Sessions are per host (cookies are host-only, so one workspace's session never travels to another's host):
    # the other workspace asks the user to sign in on its own host, then lands on its home.
    expect(page).to_have_url(site_b.url("/accounts/login/?next=/"))
    expect(page.locator(".tenant-badge")).to_have_text(e2e_tenant_b.name)
    page.get_by_label(re.compile("e-?mail", re.I)).fill(user.email)
    page.get_by_label(re.compile("password", re.I)).fill(user.password)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()

    expect(page).to_have_url(site_b.url("/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(e2e_tenant_b.name)
    expect(page.locator(".hero")).to_contain_text(user.email)
    expect(page.locator(".hero")).to_contain_text("with the role Owner")
    screenshot(page)

    # Back in the first workspace the user is still signed in, with the role they have there.
    page.get_by_label("User menu").click()
    page.get_by_role("menuitem", name=f"{e2e_tenant.name} Analyst", exact=True).click()
    expect(page).to_have_url(site.url("/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(e2e_tenant.name)
    expect(page.locator(".hero")).to_contain_text("with the role Analyst")
