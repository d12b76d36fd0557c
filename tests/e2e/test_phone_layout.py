"""At a phone's width (390 px) every page fits the screen: the navigation folds into a Menu button that reaches
every section, and the query builder keeps its live count and Run button on screen while the filters scroll."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role
from tests.e2e.test_query_builder import _seed_study

pytestmark = [pytest.mark.e2e]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Any, e2e_live_server: Any) -> Any:
    ctx = browser.new_context(viewport=PHONE, locale="en-US", is_mobile=True, has_touch=True)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def _page_width(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def _on_screen(page: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    return (
        box is not None
        and box["y"] >= 0
        and box["y"] + box["height"] <= PHONE["height"]
        and box["x"] >= 0
        and (box["x"] + box["width"] <= PHONE["width"])
    )


def test_steward_reaches_every_section_from_the_menu(phone, site, e2e_tenant, make_user, screenshot) -> None:
    steward = make_user((e2e_tenant, Role.STEWARD), prefix="a-rather-long-steward-address-of-a-real-lab")
    site.sign_in(phone, steward.email, steward.password)
    assert _page_width(phone) <= PHONE["width"]
    nav = phone.get_by_role("navigation", name="Main")
    expect(nav).to_be_hidden()
    menu = phone.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    screenshot(phone, "1-closed")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    for name in ("Home", "Studies", "Queries", "Access", "Console", "Audit", "API"):
        link = (
            nav.get_by_role("link", name=name, exact=True)
            if name != "Console"
            else nav.get_by_role("link", name="Console")
        )
        expect(link).to_be_visible()
        assert _on_screen(phone, link), name
    assert _page_width(phone) <= PHONE["width"]
    screenshot(phone, "2-open")
    nav.get_by_role("link", name="Audit").click()
    expect(phone).to_have_url(site.url("/audit/"))
    expect(phone.get_by_role("heading", level=1)).to_have_text("Audit log")


def test_builder_keeps_count_and_run_on_screen(
    phone, site, e2e_tenant, make_user, committed_db, screenshot, tmp_path: Path
) -> None:
    slug, _ = _seed_study(committed_db, e2e_tenant, tmp_path)
    analyst = make_user((e2e_tenant, Role.ANALYST))
    site.sign_in(phone, analyst.email, analyst.password)
    phone.goto(site.url(f"/queries/{slug}/"))
    count = phone.locator("#live-count [data-participants]")
    run = phone.get_by_role("button", name="Run query")
    expect(count).to_have_text("12")
    assert _on_screen(phone, count) and _on_screen(phone, run)
    assert _page_width(phone) <= PHONE["width"]

    # The first filter is near the top; changing it updates the count in the bar.
    first = phone.get_by_label("From", exact=True).first
    first.scroll_into_view_if_needed()
    first.fill("30.5")
    expect(count).to_have_text("9")
    assert _on_screen(phone, count) and _on_screen(phone, run)
    screenshot(phone, "1-filter")

    # Far down the page (output, saved queries), the bar is still there.
    phone.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert _on_screen(phone, count) and _on_screen(phone, run)
    screenshot(phone, "2-bottom")
