"""An analyst builds a query in the browser: filters with a live count, output columns, a run on a real Celery
worker, the preview, a CSV export with its purpose, the filtering report, and the state surviving a reload."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

RUN_TIMEOUT_MS = 60_000
SITES = ("Discovery", "Discovery;Longitudinal_Adult", "{Discovery, Neurofeedback}", "Neurofeedback")
DEMOGRAPHICS = "participant_id,session,age,sex,site\n" + "".join(
    f'P{i:03d},{session},{20 + 2.5 * i + (1 if session == "FU1" else 0)},{"F" if i % 2 else "M"},"{SITES[i % 4]}"\n'
    for i in range(1, 13)
    for session in ("BAS1", "FU1")
)  # 12 participants x 2 sessions; ages 22.5 .. 51.0 with fractions
COGNITIVE = "participant_id,session,working_memory,notes\n" + "".join(
    f"P{i:03d},{session},{88 + 3 * i + (2 if session == 'FU1' else 0)},{'ok' if i % 3 else 'tired'}\n"
    for i in range(1, 13)
    for session in ("BAS1", "FU1")
)


def _seed_study(committed_db: Any, tenant: Any, tmp_path: Path) -> tuple[str, str]:
    from django_tenants.utils import tenant_context

    from datasets.services import ingest_file_sync, study_create

    token = uuid.uuid4().hex[:6]
    slug, name = f"memory-{token}", f"Memory Study {token}"
    files = {"demographics": DEMOGRAPHICS, "cognitive": COGNITIVE}
    with committed_db(), tenant_context(tenant.obj()):
        study = study_create(
            tenant=tenant.obj(),
            actor=None,
            slug=slug,
            name=name,
            id_column="participant_id",
            session_column="session",
            age_column="age",
            sex_column="sex",
            site_column="site",
        )
        for dataset, text in files.items():
            path = tmp_path / f"{dataset}.csv"
            path.write_text(text, encoding="utf-8")
            kind = "demographics" if dataset == "demographics" else "measure"
            job = ingest_file_sync(study=study, path=path, dataset_name=dataset, kind=kind)
            assert job.version, job.error_message
    return slug, name


def test_build_run_preview_export_and_report(
    page, site, e2e_tenant, make_user, committed_db, screenshot, celery_worker, tmp_path: Path
) -> None:
    slug, name = _seed_study(committed_db, e2e_tenant, tmp_path)
    analyst = make_user((e2e_tenant, Role.ANALYST))
    site.sign_in(page, analyst.email, analyst.password)

    # From the study's catalog to its builder; the live count starts with everyone.
    page.goto(site.url(f"/studies/{slug}/"))
    page.get_by_role("link", name="Build a query").click()
    expect(page).to_have_url(site.url(f"/queries/{slug}/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Query builder")
    expect(page.get_by_role("navigation", name="Breadcrumb")).to_contain_text(name)
    count = page.locator("#live-count")
    expect(count.locator("[data-participants]")).to_have_text("12")
    expect(count.locator("[data-rows]")).to_have_text("24")
    screenshot(page, "1-empty")

    # A demographic filter: age from 30 (decimals allowed) -> fewer participants, live.
    page.get_by_label("From", exact=True).first.fill("30.5")
    expect(count.locator("[data-participants]")).to_have_text("9")
    page.get_by_label("Discovery", exact=True).check()  # whole tokens of "A;B", "{A, B}" and "A" cells
    expect(count.locator("[data-participants]")).to_have_text("7")
    expect(count.locator("[data-rows]")).to_have_text("13")

    # A phenotypic filter: cognitive.working_memory in range 110 .. (open).
    page.get_by_role("button", name="+ Add filter").focus()
    page.keyboard.press("Enter")  # from the keyboard: the new row's first field takes the focus
    expect(page.get_by_label("Table", exact=True)).to_be_focused()
    page.get_by_label("Table", exact=True).select_option("cognitive")
    page.get_by_label("Column", exact=True).select_option("working_memory")
    expect(page.get_by_label("Condition")).to_have_value("between")
    row = page.locator("#row-0")
    expect(row).to_contain_text("in the data")
    row.get_by_label("From", exact=True).fill("110")
    expect(count.locator("[data-participants]")).to_have_text("4")
    expect(count.locator("[data-rows]")).to_have_text("8")

    # Output: ticking the cognitive table picks its columns; the analyst keeps working_memory only.
    page.get_by_role("checkbox", name="cognitive", exact=True).check()
    expect(page.locator("#cols-cognitive").get_by_label(re.compile("working_memory"))).to_be_checked()
    with page.expect_response(lambda response: response.url.endswith("/state/")):  # saved after ~300 ms
        page.locator("#cols-cognitive").get_by_label(re.compile("notes")).uncheck()
    screenshot(page, "2-filters")

    # The state is on the server: a reload restores it.
    page.reload()
    expect(page.locator("#age_lo")).to_have_value("30.5")
    expect(page.get_by_label("Discovery", exact=True)).to_be_checked()
    expect(page.locator("#f-0-lo")).to_have_value("110")
    expect(page.locator("#cols-cognitive").get_by_label(re.compile("working_memory"))).to_be_checked()
    expect(count.locator("[data-participants]")).to_have_text("4")

    # Run on the worker; the panel polls until the preview shows.
    page.get_by_role("button", name="Run query").click()
    panel = page.locator("#run-panel")
    expect(panel.locator("[data-run-status=succeeded]")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(panel.locator("[data-row-count]")).to_have_text("8")
    preview = panel.locator(".qb-preview")
    expect(preview.locator("tbody tr")).to_have_count(8)
    expect(preview.locator("thead th")).to_have_count(6)  # id, session, age, sex, site, working_memory
    preview.get_by_role("button", name="Sort by working_memory").click()
    expect(preview.locator("th[aria-sort=ascending]")).to_contain_text("working_memory")
    preview.get_by_role("button", name=re.compile("Sort by working_memory, descending")).click()
    expect(preview.locator("th[aria-sort=descending]")).to_contain_text("working_memory")
    expect(preview.locator("tbody tr").first.locator("td").last).to_have_text("126")
    screenshot(page, "3-run")

    # Export CSV: the purpose is asked for; the file starts with the header.
    panel.get_by_text("Export CSV").click()
    purpose = panel.get_by_label("Purpose of this export").first
    expect(purpose).to_be_focused()
    purpose.fill("Working memory follow-up analysis")
    screenshot(page, "4-export")
    with page.expect_download() as download_info:
        panel.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "participant_id,session,age,sex,site,working_memory"
    assert len(lines) == 9

    # The report: attrition step by step and the final summary.
    panel.get_by_role("button", name="Report").click()
    steps = panel.locator("[data-report=steps] tbody tr")
    expect(steps).to_have_count(4)  # initial, site, age, working_memory
    expect(steps.nth(2)).to_contain_text(re.compile("age", re.I))
    expect(panel.locator("[data-report=summary]")).to_contain_text("working_memory")
    screenshot(page, "5-report")

    # The run page: query in words, pinned versions.
    page.get_by_role("link", name="Open the run page →").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Run #\d+"))
    expect(page.locator("[data-pinned] tbody tr")).to_have_count(2)
    expect(page.locator(".qb-summary")).to_contain_text("cognitive.working_memory is at least 110")
    expect(page.locator(".qb-preview tbody tr")).to_have_count(8)
    screenshot(page, "6-run-page")
