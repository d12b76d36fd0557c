"""Personal access tokens in the settings page: created (secret shown once), listed, revoked, and then refused."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tenants.roles import Role

pytestmark = pytest.mark.e2e


def api_me(site, token: str) -> tuple[int, dict]:
    """GET /api/v1/me on the site's host with a bearer token, over HTTP without any browser cookie."""
    status, body = site.server.http_get(site.host, "/api/v1/me", {"Authorization": f"Bearer {token}"})
    return status, json.loads(body or b"{}")


def test_create_show_once_and_revoke_token(page, site, e2e_tenant, make_user, screenshot):
    user = make_user((e2e_tenant, Role.ANALYST))
    site.sign_in(page, user.email, user.password)
    page.get_by_label("User menu").click()
    page.get_by_role("menuitem", name="Settings & tokens").click()
    expect(page).to_have_url(site.url("/settings/"))
    tokens = page.locator("#tokens")
    expect(tokens).to_contain_text("No tokens yet.")

    # Create: the secret is shown once, and the list shows the token as active.
    tokens.get_by_label("Name").fill("e2e notebook")
    tokens.get_by_role("button", name="Create token").click()
    secret = page.get_by_test_id("new-token")
    expect(secret).to_be_visible()
    plaintext = secret.inner_text().strip()
    assert re.fullmatch(r"bdt_\S{20,}", plaintext), plaintext
    row = tokens.locator("tbody tr", has_text="e2e notebook")
    expect(row).to_have_count(1)
    expect(row.locator(".pill")).to_have_text("active")
    expect(tokens).not_to_contain_text("No tokens yet.")
    screenshot(page, "created")

    status, body = api_me(site, plaintext)
    assert status == 200, body
    assert body["user"]["email"] == user.email
    assert body["tenant"]["slug"] == e2e_tenant.slug
    assert body["auth"] == "token"

    # Reload: the secret is gone for good; the token is still listed as active.
    page.reload()
    expect(page.get_by_role("heading", name="Personal access tokens")).to_be_visible()
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    assert plaintext not in page.content()
    expect(row.locator(".pill")).to_have_text("active")

    # Revoke, confirming the browser's dialog.
    dialogs: list[str] = []

    def accept(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    row.get_by_role("button", name="Revoke").click()
    expect(row.locator(".pill")).to_have_text("revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    assert dialogs and "e2e notebook" in dialogs[0], dialogs
    screenshot(page)

    # The revoked token is refused by the API of this workspace.
    status, body = api_me(site, plaintext)
    assert status == 401, body
    assert body["error"]["code"] == "not_authenticated", body


def test_dismissed_revoke_keeps_token_active(page, site, e2e_tenant, make_user):
    user = make_user((e2e_tenant, Role.VIEWER))
    site.sign_in(page, user.email, user.password, next_path="/settings/")
    tokens = page.locator("#tokens")
    tokens.get_by_label("Name").fill("keep me")
    tokens.get_by_role("button", name="Create token").click()
    plaintext = page.get_by_test_id("new-token").inner_text().strip()
    row = tokens.locator("tbody tr", has_text="keep me")

    dialogs: list[str] = []

    def dismiss(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    row.get_by_role("button", name="Revoke").click()
    assert dialogs, "Revoke asked for no confirmation"

    page.reload()
    expect(row.locator(".pill")).to_have_text("active")
    assert api_me(site, plaintext)[0] == 200
