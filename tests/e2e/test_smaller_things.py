"""Smaller things people met: clearing the builder asks first, the password-reset page says what to do, the home
page shows recent runs and pending requests, stewards decide several requests at once, the request form's groups
are drawn, the data dictionary fits a 1440 px screen, and the builder leaves the console quiet."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role
from tests.e2e.conftest import E2ETenant, Site, seed_study_with_run
from tests.e2e.test_query_builder import _seed_study

pytestmark = [pytest.mark.e2e]

BULK_TENANT = ("lab-e2e-bulk", "Lab E2E Bulk", "lab-e2e-bulk.localhost")


@pytest.fixture(scope="module")
def bulk_tenant(django_db_setup: None, django_db_blocker: Any) -> E2ETenant:
    from django.db import connection

    from tenants.models import Tenant
    from tenants.services import tenant_create

    with django_db_blocker.unblock():
        slug, name, domain = BULK_TENANT
        tenant_create(slug=slug, name=name, domain=domain)
        Tenant.objects.filter(slug=slug).update(settings={"analyst_default_level": "metadata"})
        connection.set_schema_to_public()
    return E2ETenant(*BULK_TENANT)


def test_builder_clear_home_reset_and_dictionary(
    page, site, e2e_tenant, make_user, committed_db, screenshot, tmp_path: Path
) -> None:
    analyst = make_user((e2e_tenant, Role.ANALYST))
    _, run_id = seed_study_with_run(committed_db, e2e_tenant, tmp_path, analyst.pk, prefix="small", participants=12)
    slug, _ = _seed_study(committed_db, e2e_tenant, tmp_path)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    # The password-reset page speaks of this platform, not a stock "contact us".
    page.goto(site.url("/accounts/password/reset/"))
    expect(page.locator("body")).not_to_contain_text("Please contact us")
    expect(page.locator("[data-reset-help]")).to_contain_text("ask an owner or steward of your workspace")

    site.sign_in(page, analyst.email, analyst.password)
    page.set_viewport_size({"width": 1440, "height": 900})

    # Home: the analyst's recent run.
    expect(page.locator("[data-home-runs]")).to_contain_text(f"Run #{run_id}")

    # The builder: fast typing replaces requests without console errors; clearing asks first.
    page.goto(site.url(f"/queries/{slug}/"))
    count = page.locator("#live-count [data-participants]")
    expect(count).to_have_text("12")
    age = page.get_by_label("From", exact=True).first
    for text in ("3", "30", "3", "30", "30.5"):
        age.fill(text)
        page.wait_for_timeout(120)
    expect(count).to_have_text("9")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Clear the builder and start over").click()
    page.wait_for_timeout(300)
    expect(page.locator("#age_lo")).to_have_value("30.5")  # kept: the user said no
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Clear the builder and start over").click()
    expect(page.locator("#age_lo")).to_have_value("")
    expect(count).to_have_text("12")
    assert not [e for e in errors if "htmx" in e], errors

    # The data dictionary fits: Sensitivity and Edit are on screen without scrolling sideways.
    steward = make_user((e2e_tenant, Role.STEWARD))
    page.context.clear_cookies()
    site.sign_in(page, steward.email, steward.password)
    page.goto(site.url(f"/studies/{slug}/datasets/demographics/"))
    region = page.locator("div.table-scroll[aria-labelledby=dict-heading]")
    assert region.evaluate("el => el.scrollWidth <= el.clientWidth + 1"), "the dictionary scrolls sideways"
    edit = page.get_by_role("button", name="Edit description and sensitivity of site")
    box = edit.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1440
    screenshot(page, "dictionary")


def test_bulk_decisions_home_counts_and_request_form(
    browser, e2e_live_server, bulk_tenant, make_user, committed_db, screenshot, tmp_path: Path
) -> None:
    site = Site(e2e_live_server, bulk_tenant.domain)
    owner = make_user((bulk_tenant, Role.OWNER), prefix="owner")
    researchers = [make_user((bulk_tenant, Role.ANALYST), prefix=f"r{i}") for i in range(3)]
    slug, _ = seed_study_with_run(committed_db, bulk_tenant, tmp_path, owner.pk, prefix="bulk", participants=12)
    contexts = [browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US") for _ in range(2)]
    try:
        page, console = contexts[0].new_page(), contexts[1].new_page()
        for i, person in enumerate(researchers):
            page.context.clear_cookies()
            site.sign_in(page, person.email, person.password)
            page.goto(site.url(f"/studies/{slug}/"))
            page.locator("a.btn", has_text="Request access").click()
            fieldset = page.locator(".request-form fieldset")
            assert fieldset.evaluate("el => getComputedStyle(el).borderTopStyle") == "solid"
            page.locator("input[name=datasets][value=memory]").check()
            page.get_by_label("Purpose").fill(f"Memory project {i}.")
            page.get_by_role("button", name="Send request").click()
            expect(page).to_have_url(site.url("/access/requests/"))
        page.goto(site.url("/"))
        expect(page.locator("[data-home-mine]")).to_contain_text("1 of your access requests is pending")

        site.sign_in(console, owner.email, owner.password)
        expect(console.locator("[data-home-pending]")).to_contain_text("3 access requests wait for a decision")
        console.locator("[data-home-pending] a").click()
        expect(console).to_have_url(site.url("/console/requests/"))
        console.get_by_role("button", name="Select all").click()
        console.get_by_label(re.compile(r"Select request #\d+")).first.uncheck()
        screenshot(console, "bulk")
        console.get_by_role("button", name="Approve selected").click()
        expect(console.locator(".alert--success")).to_contain_text("2 requests approved")
        expect(console.locator("article.request")).to_have_count(1)

        page.goto(site.url(f"/queries/{slug}/"))
        expect(page.get_by_role("button", name="Run query")).to_have_count(0)  # the last researcher is still waiting
    finally:
        for ctx in contexts:
            ctx.close()
