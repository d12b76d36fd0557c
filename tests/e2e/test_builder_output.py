"""Output tables in the builder: ticking a table picks its columns, the columns used in filters come first, and the
live-count card says how many columns the result will have; the run's result has them all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tenants.roles import Role
from tests.e2e.test_query_builder import _seed_study

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

RUN_TIMEOUT_MS = 60_000


def test_ticking_a_table_outputs_its_columns(
    page, site, e2e_tenant, make_user, committed_db, screenshot, celery_worker, tmp_path: Path
) -> None:
    slug, _ = _seed_study(committed_db, e2e_tenant, tmp_path)
    analyst = make_user((e2e_tenant, Role.ANALYST))
    site.sign_in(page, analyst.email, analyst.password)
    page.goto(site.url(f"/queries/{slug}/"))
    count = page.locator("#live-count")
    columns = count.locator("[data-output-columns]")
    expect(columns).to_contain_text("Output: 5 columns")  # id, session, age, sex, site

    # A filter on cognitive.notes (the table's second column).
    page.get_by_role("button", name="+ Add filter").click()
    page.get_by_label("Table", exact=True).select_option("cognitive")
    page.get_by_label("Column", exact=True).select_option("notes")
    page.locator("#row-0").get_by_label("tired").check()
    expect(count.locator("[data-participants]")).to_have_text("4")

    # On the next visit the filtered column is offered first, marked.
    page.reload()
    first = page.locator("#cols-cognitive li").first
    expect(first).to_contain_text("notes")
    expect(first).to_contain_text("in a filter")

    # Ticking the table picks every column; the count card follows.
    with page.expect_response(lambda response: response.url.endswith("/state/")):
        page.get_by_role("checkbox", name="cognitive", exact=True).check()
    for name in ("notes", "working_memory"):
        expect(page.locator("#cols-cognitive").get_by_label(re.compile(name))).to_be_checked()
    expect(columns).to_contain_text("Output: 7 columns")
    screenshot(page, "1-ticked")

    # Clearing one column takes it out of the count; picking it again ticks nothing else.
    page.locator("#cols-cognitive").get_by_label(re.compile("working_memory")).uncheck()
    expect(columns).to_contain_text("Output: 6 columns")
    page.get_by_role("checkbox", name="cognitive", exact=True).uncheck()
    expect(columns).to_contain_text("Output: 5 columns")
    page.get_by_role("checkbox", name="cognitive", exact=True).check()  # the analyst's own choice is kept
    expect(columns).to_contain_text("Output: 6 columns")
    page.locator("#cols-cognitive").get_by_label(re.compile("working_memory")).check()
    expect(columns).to_contain_text("Output: 7 columns")

    # The run has the filtered column and the others.
    page.get_by_role("button", name="Run query").click()
    panel = page.locator("#run-panel")
    expect(panel.locator("[data-run-status=succeeded]")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    headers = panel.locator(".qb-preview thead th")
    expect(headers).to_have_count(7)
    expect(panel.locator(".qb-preview thead")).to_contain_text("notes")
    expect(panel.locator(".qb-preview thead")).to_contain_text("working_memory")
    screenshot(page, "2-run")
