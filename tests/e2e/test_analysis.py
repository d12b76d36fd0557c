"""An analyst opens the plots page of a demo-like run: a scatter with its R², a histogram with its distribution
statistics, a box selection shown as rows (mapped by row key), then a profile built on a real Celery worker."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

JOB_TIMEOUT_MS = 60_000
N = 40
DEMOGRAPHICS = "participant_id,age,sex,grp\n" + "".join(
    f"P{i:03d},{20 + 1.25 * i},{'F' if i % 2 else 'M'},{'ABC'[i % 3]}\n" for i in range(1, N + 1)
)
COGNITIVE = "participant_id,working_memory,notes\n" + "".join(
    f"P{i:03d},{80 + 1.5 * i + (i % 7)},{'ok' if i % 4 else '=1+2'}\n" for i in range(1, N + 1)
)


def _seed_run(committed_db: Any, tenant: Any, tmp_path: Path, analyst_pk: int) -> int:
    from django_tenants.utils import tenant_context

    from datasets.services import ingest_file_sync, study_create
    from queries.run_worker import query_run_execute
    from queries.services import query_run_create
    from tenants.models import User

    slug = f"plots-{uuid.uuid4().hex[:6]}"
    with committed_db(), tenant_context(tenant.obj()):
        study = study_create(
            tenant=tenant.obj(), actor=None, slug=slug, name="Plots Study", id_column="participant_id", age_column="age"
        )
        for dataset, text in {"demographics": DEMOGRAPHICS, "cognitive": COGNITIVE}.items():
            path = tmp_path / f"{dataset}.csv"
            path.write_text(text, encoding="utf-8")
            kind = "demographics" if dataset == "demographics" else "measure"
            assert ingest_file_sync(study=study, path=path, dataset_name=dataset, kind=kind).version
        run = query_run_create(
            tenant=tenant.obj(),
            actor=User.objects.get(pk=analyst_pk),
            study=study,
            payload={"columns": {"cognitive": ["working_memory", "notes"]}},
            enqueue=False,
        )
        assert query_run_execute(run.pk) == "succeeded"
        return int(run.pk)


def test_plots_statistics_selection_and_profile(
    page, site, e2e_tenant, make_user, committed_db, screenshot, celery_worker, tmp_path: Path
) -> None:
    analyst = make_user((e2e_tenant, Role.ANALYST))
    run_id = _seed_run(committed_db, e2e_tenant, tmp_path, analyst.pk)
    site.sign_in(page, analyst.email, analyst.password)

    # From the run page to its plots; Plotly comes from our static files.
    page.goto(site.url(f"/queries/runs/{run_id}/"))
    page.get_by_role("link", name="Plots & statistics").click()
    expect(page).to_have_url(site.url(f"/queries/runs/{run_id}/plots/"))
    expect(page.locator("body[data-plots-ready='1']")).to_have_count(1)

    # Scatter with trendline: R² and the rest of the OLS beside the plot.
    page.get_by_label("X (numeric)").select_option("age")
    page.get_by_label("Y (numeric)").select_option("working_memory")
    stats = page.locator("[data-stats]")
    expect(stats.locator("[data-stat=r_squared]")).to_have_text(re.compile(r"^0\.\d{3}$"))
    expect(stats.locator("[data-stat=n]")).to_have_text(str(N))
    expect(page.locator("[data-sample]")).to_have_text(f"All {N} rows.")
    expect(page.locator("#an-plot .legend")).to_contain_text("Trend (R²")
    screenshot(page, "1-scatter")

    # Box-select the whole plotting area: the selected rows appear, looked up by row key.
    area = page.locator("#an-plot .nsewdrag").first.bounding_box()
    assert area is not None
    page.mouse.move(area["x"] + 2, area["y"] + 2)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] / 2, area["y"] + area["height"] / 2, steps=5)
    page.mouse.move(area["x"] + area["width"] - 2, area["y"] + area["height"] - 2, steps=5)
    page.mouse.up()
    selection = page.locator("#an-selection")
    expect(selection).to_be_visible()
    body = selection.locator("[data-selection-table] tbody tr")
    expect(body).to_have_count(N)
    first = body.first
    expect(first.locator("td").nth(1)).to_have_text("P001")  # key 0 is the first result row
    screenshot(page, "2-selection")

    # Histogram with its distribution statistics (and the KDE on a density scale).
    page.get_by_label("Plot type").select_option("histogram")
    page.get_by_label("Variable (numeric)").select_option("working_memory")
    expect(stats.locator("[data-describe] [data-stat=mean]")).to_be_visible()
    expect(stats.locator("[data-stat=shapiro]")).to_contain_text("W = ")
    page.get_by_label("Density curve (KDE)").check()
    expect(page.locator("#an-plot .legend")).to_contain_text("KDE")
    screenshot(page, "3-histogram")

    # A non-numeric column in a numeric slot is a clear message, not a broken page.
    page.get_by_label("Plot type").select_option("box")
    page.get_by_label("Category").select_option("grp")
    page.get_by_label("Value (numeric)").select_option("working_memory")
    expect(stats.locator("[data-anova]")).to_contain_text("η²")

    # Profile on the worker: progress, then the report with downloads.
    page.get_by_role("link", name="Profile").first.click()
    page.get_by_role("button", name="Build a profile").click()
    panel = page.locator("#profile-panel")
    expect(panel).to_have_attribute("data-profile-status", re.compile("queued|running|succeeded"))
    expect(page.locator("#profile-panel[data-profile-status=succeeded]")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(panel.locator("[data-profile-column=working_memory]")).to_be_visible()
    expect(panel.locator("[data-profile-sample]")).to_have_text(f"all {N} rows")
    with page.expect_download() as download:
        panel.locator("[data-download-json]").click()
    assert download.value.suggested_filename.endswith(".json")
    screenshot(page, "4-profile")
