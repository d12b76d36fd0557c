"""The console's Connections tab in a browser: a steward connects a database, tests it and picks a source."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tenants.roles import Role

pytestmark = pytest.mark.e2e


def test_steward_connects_tests_and_lists_sources(page, site, e2e_tenant, make_user, source_pg, screenshot):
    user = make_user((e2e_tenant, Role.STEWARD))
    site.sign_in(page, user.email, user.password)
    page.goto(site.url("/console/"))
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Connections").click()
    expect(page).to_have_url(site.url("/console/connections/"))

    name = f"clinic {uuid.uuid4().hex[:6]}"
    form = page.locator("[data-connection-form]")
    form.get_by_label("Name", exact=True).fill(name)
    config = source_pg["config"]
    form.get_by_label("Host", exact=True).fill(config["host"])
    form.get_by_label("Port (optional)").fill(str(config["port"]))
    form.get_by_label("Database", exact=True).fill(config["database"])
    form.get_by_label("User", exact=True).fill(config["user"])
    form.get_by_label("TLS (optional)").select_option("disable")
    form.get_by_label("Password (optional)").fill(source_pg["secret"]["password"])
    form.get_by_role("button", name="Test and save").click()
    expect(page.get_by_text("Connection tested and saved.")).to_be_visible()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    assert source_pg["secret"]["password"] not in page.content()

    page.get_by_role("button", name="Test connection").click()  # htmx: the result replaces the placeholder
    expect(page.locator('[data-test-result="ok"]')).to_be_visible()
    page.get_by_role("link", name="List sources").click()
    picker = page.locator("[data-source-picker]")
    expect(picker.get_by_label("Source")).to_contain_text("memory_scores (table)")
    expect(picker.get_by_label("Source")).to_contain_text("adults (view)")
    screenshot(page, "sources")
