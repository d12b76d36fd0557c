"""An analyst counts and runs across two differently coded studies in the browser: studies picked, a filter on a
harmonized variable with the live total and per-study breakdown, a run on a real Celery worker, the first rows."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

RUN_TIMEOUT_MS = 60_000
YEARS = "participant_id,age_years\n" + "".join(f"A{i:02d},{20 + 5 * i}\n" for i in range(12))  # 20 .. 75
MONTHS = "participant_id,age_months\n" + "".join(f"B{i:02d},{(30 + 5 * i) * 12}\n" for i in range(10))  # 30 .. 75 y


def _seed(committed_db: Any, tenant: Any, tmp_path: Path, steward_pk: int) -> tuple[str, str, str]:
    from django_tenants.utils import tenant_context

    from datasets.services import ingest_file_sync, study_create
    from harmonization.services import variable_save
    from tenants.models import User

    token = uuid.uuid4().hex[:6]
    years, months, variable = f"years-{token}", f"months-{token}", f"age_{token}"
    with committed_db(), tenant_context(tenant.obj()):
        for slug, text in ((years, YEARS), (months, MONTHS)):
            study = study_create(
                tenant=tenant.obj(), actor=None, slug=slug, name=slug.title(), id_column="participant_id"
            )
            path = tmp_path / f"{slug}.csv"
            path.write_text(text, encoding="utf-8")
            job = ingest_file_sync(study=study, path=path, dataset_name="demographics", kind="demographics")
            assert job.version, job.error_message
        variable_save(
            tenant=tenant.obj(),
            actor=User.objects.get(pk=steward_pk),
            payload={
                "name": variable,
                "type": "number",
                "unit": "years",
                "sources": [
                    {"study": years, "dataset": "demographics", "column": "age_years"},
                    {"study": months, "dataset": "demographics", "column": "age_months", "scale": 1 / 12},
                ],
            },
        )
    return years, months, variable


def test_count_and_run_across_studies(
    page, site, e2e_tenant, make_user, committed_db, screenshot, celery_worker, tmp_path: Path
) -> None:
    steward = make_user((e2e_tenant, Role.STEWARD))
    years, months, variable = _seed(committed_db, e2e_tenant, tmp_path, steward.pk)
    analyst = make_user((e2e_tenant, Role.ANALYST))
    site.sign_in(page, analyst.email, analyst.password)
    page.goto(site.url("/federated/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Across studies")
    page.locator(f'input[data-study="{years}"]').check()
    page.locator(f'input[data-study="{months}"]').check()
    total = page.locator("[data-federated-total]")
    expect(total).to_have_text("22")
    page.locator("#variable_0").select_option(variable)
    page.locator("#op_0").select_option("between")
    page.locator("#value_0").fill("40, 60")
    expect(total).to_have_text("10")  # 40..60 years: 5 in each study, months scaled to years
    expect(page.locator(f'[data-study-count="{months}"] td').nth(1)).to_have_text("5")
    screenshot(page, "1-count")
    page.get_by_role("button", name="Run across studies").click()
    run = page.locator("#federated-run")
    expect(run).to_have_attribute("data-run-status", "succeeded", timeout=RUN_TIMEOUT_MS)
    expect(run.locator("tbody tr")).to_have_count(10)
    expect(run.locator("thead th")).to_have_count(4)  # study, participant_id, session, the variable
    screenshot(page, "2-run")
