"""Page polish that needs a browser: a run page opened while the run is queued catches up with the result (status,
timings, Plots and Profile) once a real worker finishes it; a steward sees waiting requests on the Console link."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role
from tests.e2e.conftest import E2ETenant, Site, seed_study_with_run

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

UX_TENANT = ("lab-e2e-ux", "Lab E2E UX", "lab-e2e-ux.localhost")
RUN_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def ux_tenant(django_db_setup: None, django_db_blocker: Any) -> E2ETenant:
    from django.db import connection

    from tenants.services import tenant_create

    with django_db_blocker.unblock():
        tenant_create(slug=UX_TENANT[0], name=UX_TENANT[1], domain=UX_TENANT[2])
        connection.set_schema_to_public()
    return E2ETenant(*UX_TENANT)


def _seed(committed_db: Callable[..., Any], tenant: E2ETenant, tmp_path: Path, analyst_pk: int) -> int:
    """A study with two tables and a finished run by the analyst (committed); returns the run's id."""
    _, run_id = seed_study_with_run(committed_db, tenant, tmp_path, analyst_pk, prefix="ux", participants=12)
    return run_id


def test_a_rerun_page_catches_up_with_its_result(
    page, e2e_live_server, ux_tenant, make_user, committed_db, screenshot, celery_worker, tmp_path: Path
) -> None:
    steward = make_user((ux_tenant, Role.STEWARD), prefix="ux-steward")
    run_id = _seed(committed_db, ux_tenant, tmp_path, steward.pk)
    site = Site(e2e_live_server, ux_tenant.domain)
    site.sign_in(page, steward.email, steward.password)

    page.goto(site.url(f"/queries/runs/{run_id}/"))
    page.get_by_role("button", name="Re-run on latest versions").click()
    expect(page.get_by_role("heading", level=1)).not_to_have_text(f"Run #{run_id}")
    # The header (not only the result panel) reaches "Succeeded", with the timings and the analysis links.
    head = page.locator(".page-head")
    expect(head.locator(".pill", has_text="Succeeded")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(head.locator("[data-plots-link]")).to_be_visible()
    expect(page.locator("dt", has_text="Finished").locator("xpath=following-sibling::dd")).not_to_have_text("—")
    compare = page.locator("[data-compare-table]")
    expect(compare.locator('[data-total="rows"]')).to_contain_text("24")
    screenshot(page, "rerun")
