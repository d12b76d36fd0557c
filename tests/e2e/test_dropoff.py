"""An analyst watches each filter's drop-off follow the filters live in the builder: who remains after the filter,
who it removes in order and who it removes on its own, and a value outside the data's range flagged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role
from tests.e2e.test_query_builder import _seed_study

pytestmark = [pytest.mark.e2e]


def test_the_dropoff_of_each_filter_updates_live(
    page, site, e2e_tenant, make_user, committed_db, screenshot, tmp_path: Path
) -> None:
    slug, _ = _seed_study(committed_db, e2e_tenant, tmp_path)
    analyst = make_user((e2e_tenant, Role.ANALYST))
    site.sign_in(page, analyst.email, analyst.password)
    page.goto(site.url(f"/queries/{slug}/"))
    count = page.locator("#live-count")
    expect(count.locator("[data-participants]")).to_have_text("12")

    # Age from 30.5: 9 of 12 participants remain (P004 by their follow-up at 31).
    page.locator("#age_lo").fill("30.5")
    age: Any = page.locator("#age-dropoff")
    expect(age.locator("[data-remaining]")).to_have_text("9")
    expect(age.locator("[data-removed]")).to_have_text("3")

    # working_memory from 110 on the same session row: 6 remain; it removes 3 in order and 3 on its own, and the
    # age filter then removes nobody on its own (everyone with such a score is over 30.5).
    page.get_by_role("button", name="+ Add filter").click()
    page.get_by_label("Table", exact=True).select_option("cognitive")
    page.get_by_label("Column", exact=True).select_option("working_memory")
    row = page.locator("#row-0")
    row.get_by_label("From", exact=True).fill("110")
    memory = page.locator("#row-0-dropoff")
    expect(memory.locator("[data-remaining]")).to_have_text("6")
    expect(memory.locator("[data-removed]")).to_have_text("3")
    expect(memory.locator("[data-removed-alone]")).to_have_text("3")
    expect(age.locator("[data-removed-alone]")).to_have_text("0")
    expect(count.locator("[data-participants]")).to_have_text("6")
    screenshot(page, "1-dropoff")

    # An upper bound beyond the data (scores reach 126) is flagged next to the filter.
    row.get_by_label("to", exact=True).fill("500")
    expect(memory.locator("[data-out-of-range]")).to_contain_text("Outside the data's range (91 – 126): 500")

    # Moving the age bound updates every filter's numbers.
    page.locator("#age_lo").fill("45")
    expect(age.locator("[data-remaining]")).to_have_text("3")
    expect(memory.locator("[data-remaining]")).to_have_text("3")
    expect(memory.locator("[data-removed]")).to_have_text("0")
    expect(age.locator("[data-removed-alone]")).to_have_text("3")
    expect(count.locator("[data-participants]")).to_have_text("3")
    screenshot(page, "2-dropoff-moved")
