"""Lineage and audit in a real browser: a steward follows a run to the version it read and to everyone who used
that version, then filters the audit log and downloads it as CSV."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role
from tests.e2e.conftest import seed_study_with_run

pytestmark = [pytest.mark.e2e]


def _seed(committed_db: Any, tenant: Any, tmp_path: Path, analyst_pk: int) -> tuple[str, int, str]:
    """A study with two tables, a finished run by the analyst and a CSV export of it (committed)."""
    from django_tenants.utils import tenant_context

    from queries.exports import run_export
    from queries.models import QueryRun
    from tenants.models import User

    slug, run_id = seed_study_with_run(committed_db, tenant, tmp_path, analyst_pk, prefix="lineage", participants=8)
    with committed_db(), tenant_context(tenant.obj()):
        analyst = User.objects.get(pk=analyst_pk)
        run = QueryRun.objects.get(pk=run_id)
        export = run_export(tenant=tenant.obj(), run=run, fmt="csv", purpose="Grant renewal figures", actor=analyst)
    return slug, run_id, export.sha256


def test_run_to_version_to_usage_and_the_audit_log(
    page, site, e2e_tenant, make_user, committed_db, screenshot, tmp_path: Path
) -> None:
    analyst = make_user((e2e_tenant, Role.ANALYST), prefix="lineage-analyst")
    steward = make_user((e2e_tenant, Role.STEWARD), prefix="lineage-steward")
    slug, run_id, export_sha = _seed(committed_db, e2e_tenant, tmp_path, analyst.pk)
    site.sign_in(page, steward.email, steward.password)

    # The run page: spec, pinned versions with sha256, the export (who, format, purpose, sha256).
    page.goto(site.url(f"/queries/runs/{run_id}/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Run #{run_id}")
    lineage = page.locator("[data-lineage]")
    exports = lineage.locator("[data-exports]")
    expect(exports).to_contain_text("Grant renewal figures")
    expect(exports).to_contain_text(analyst.email)
    expect(exports.locator("code")).to_have_attribute("title", export_sha)
    screenshot(page, "1-run")

    # Pinned version -> the version page -> everyone who used it.
    page.locator("[data-pinned]").get_by_role("link", name="v1").last.click()
    expect(page).to_have_url(site.url(f"/studies/{slug}/datasets/memory/versions/1/"))
    usage = page.locator("[data-usage]")
    expect(usage).to_contain_text("Every run and export that used this version")
    expect(usage.locator(f'[data-run="{run_id}"]')).to_contain_text(analyst.email)
    expect(usage.locator("[data-export]")).to_contain_text("Grant renewal figures")
    screenshot(page, "2-version")

    # Back to the run from the usage table.
    usage.get_by_role("link", name=f"Run #{run_id}").click()
    expect(page).to_have_url(site.url(f"/queries/runs/{run_id}/"))

    # The audit log: filter by the analyst and the export action; the CSV has the same events.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    form = page.locator("[data-audit-filters]")
    form.get_by_label("Who").fill(analyst.email)
    form.get_by_label("Action").select_option("query.exported")
    form.get_by_role("button", name="Filter").click()
    rows = page.locator("[data-audit-events] tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("query.exported")
    expect(page.locator("[data-total]")).to_have_text("1 event")
    screenshot(page, "3-audit")
    with page.expect_download() as download_info:
        page.locator("[data-audit-csv]").click()
    path = tmp_path / "audit.csv"
    download_info.value.save_as(path)
    records = list(csv.DictReader(path.open(encoding="utf-8")))
    assert [r["action"] for r in records] == ["query.exported"]
    assert records[0]["actor"] == analyst.email and '"purpose": "Grant renewal figures"' in records[0]["details"]

    # The analyst's activity page, from the actor link.
    rows.first.get_by_role("link", name=analyst.email).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Activity of {analyst.email}")
    expect(page.locator("[data-user-summary]")).to_contain_text("query.exported")
