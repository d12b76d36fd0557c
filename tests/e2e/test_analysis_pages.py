"""The analysis pages as a researcher meets them: no fake axes before a plot, group pickers without continuous
columns, a density histogram not dominated by a few rows without a group, a Statistics tab with every kind of the
analysis API (its tables inside their card), and a profile with a column index."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role

pytestmark = [pytest.mark.e2e]

N = 45
DEMOGRAPHICS = "participant_id,height,sex,grp\n" + "".join(
    f"P{i:03d},{150 + 0.731 * i:.3f},{'F' if i % 2 else 'M'},{'' if i <= 3 else 'ABC'[i % 3]}\n"
    for i in range(1, N + 1)
)
COGNITIVE = "participant_id,working_memory\n" + "".join(f"P{i:03d},{80 + 1.5 * i + (i % 7)}\n" for i in range(1, N + 1))


def _seed(committed_db: Any, tenant: Any, tmp_path: Path, analyst_pk: int) -> tuple[int, int]:
    from django_tenants.utils import tenant_context

    from analysis.models import ProfileJob
    from analysis.services import profile_job_execute
    from datasets.services import ingest_file_sync, study_create
    from queries.run_worker import query_run_execute
    from queries.services import query_run_create
    from tenants.models import User

    slug = f"stats-{uuid.uuid4().hex[:6]}"
    with committed_db(), tenant_context(tenant.obj()):
        study = study_create(tenant=tenant.obj(), actor=None, slug=slug, name="Stats Study", id_column="participant_id")
        for dataset, text in {"demographics": DEMOGRAPHICS, "cognitive": COGNITIVE}.items():
            path = tmp_path / f"{dataset}.csv"
            path.write_text(text, encoding="utf-8")
            kind = "demographics" if dataset == "demographics" else "measure"
            assert ingest_file_sync(study=study, path=path, dataset_name=dataset, kind=kind).version
        analyst = User.objects.get(pk=analyst_pk)
        run = query_run_create(
            tenant=tenant.obj(),
            actor=analyst,
            study=study,
            payload={"columns": {"cognitive": ["working_memory"]}},
            enqueue=False,
        )
        assert query_run_execute(run.pk) == "succeeded"
        job = ProfileJob.objects.create(run=run, created_by=analyst)
        assert profile_job_execute(job.pk, tenant=tenant.obj()) == "succeeded"
        return int(run.pk), int(job.pk)


def test_plots_statistics_and_profile_index(
    page, site, e2e_tenant, make_user, committed_db, screenshot, tmp_path: Path
) -> None:
    analyst = make_user((e2e_tenant, Role.ANALYST))
    run_id, job_id = _seed(committed_db, e2e_tenant, tmp_path, analyst.pk)
    page.set_viewport_size({"width": 1440, "height": 900})
    if True:
        site.sign_in(page, analyst.email, analyst.password)
        page.goto(site.url(f"/queries/runs/{run_id}/plots/"))
        expect(page.locator("body[data-plots-ready='1']")).to_have_count(1)

        # Nothing drawn yet: a message, not empty axes.
        expect(page.locator("[data-plot-empty]")).to_contain_text("Choose a column to draw a plot.")
        expect(page.locator("#an-plot")).to_be_hidden()
        expect(page.locator("#an-plot .main-svg")).to_have_count(0)

        # Group pickers list group columns only (height is continuous).
        facet = page.get_by_label("Facet")
        expect(facet.locator("option")).to_have_text(["none", "sex", "grp"])
        page.get_by_label("Plot type").select_option("box")
        category = page.get_by_label("Category")
        assert category.locator("option[value=height]").evaluate("option => option.hidden") is True
        assert category.locator("option[value=grp]").evaluate("option => option.hidden") is False

        # A density histogram split by grp leaves out the 3 rows without a group, and says so.
        page.get_by_label("Plot type").select_option("histogram")
        page.get_by_label("Variable (numeric)").select_option("working_memory")
        page.get_by_label("Colour").select_option("grp")
        page.get_by_label("Density curve (KDE)").check()
        note = page.locator("[data-stats] [data-color-note]")
        expect(note).to_contain_text("3 rows without a grp value are left out of the density view")
        expect(page.locator("#an-plot .legend")).not_to_contain_text("(missing)")
        expect(page.locator("[data-plot-empty]")).to_be_hidden()
        screenshot(page, "1-histogram")

        # The Statistics tab: every kind; the tables stay inside the page.
        page.get_by_role("tab", name="Statistics").click()
        result = page.locator("[data-stat-result]")
        kind = page.get_by_label("Statistic", exact=True)
        expect(kind.locator("option")).to_have_count(5)
        kind.select_option("describe")
        page.get_by_label("Column (numeric)").select_option("height")
        page.get_by_role("button", name="Compute").click()
        expect(result.locator("[data-describe] [data-stat=n]")).to_have_text(str(N))
        kind.select_option("ols")
        page.get_by_label("X (numeric)", exact=True).last.select_option("height")
        page.locator("#st-b").select_option("working_memory")
        page.get_by_role("button", name="Compute").click()
        expect(result.locator("[data-ols] [data-stat=r_squared]")).to_be_visible()
        for name, marker in (("anova", "[data-anova]"), ("ttests", "[data-ttests]")):
            kind.select_option(name)
            page.locator("#st-a").select_option("working_memory")
            page.locator("#st-b").select_option("grp")
            page.get_by_role("button", name="Compute").click()
            expect(result.locator(marker)).to_be_visible()
            assert int(page.evaluate("document.documentElement.scrollWidth")) <= 1440
        kind.select_option("crosstab")
        expect(page.locator("#st-a option[value=height]")).to_have_count(0)
        page.locator("#st-a").select_option("sex")
        page.locator("#st-b").select_option("grp")
        page.get_by_role("button", name="Compute").click()
        expect(result.locator("[data-crosstab]")).to_contain_text("Total")
        expect(result.locator("[data-stat=chi2]")).to_contain_text("χ² =")
        kind.select_option("anova")
        page.locator("#st-a").select_option("working_memory")
        page.locator("#st-b").select_option("")
        page.get_by_role("button", name="Compute").click()
        expect(result.get_by_role("alert")).to_contain_text("Choose groups.")
        screenshot(page, "2-statistics")

        # The profile starts with a column index.
        page.goto(site.url(f"/queries/profiles/{job_id}/"))
        index = page.locator("[data-profile-index]")
        expect(index.get_by_role("link")).to_have_count(5)  # participant_id, height, sex, grp, working_memory
        index.get_by_role("link", name="working_memory").click()
        expect(page).to_have_url(f"{site.url(f'/queries/profiles/{job_id}/')}#pr-col-5")
        expect(page.locator("#pr-col-5")).to_be_in_viewport()
