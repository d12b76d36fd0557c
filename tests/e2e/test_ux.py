"""Page polish that needs a browser: a run page opened while the run is queued catches up with the result (status,
timings, Plots and Profile) once a real worker finishes it; a steward sees waiting requests on the Console link."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role
from tests.e2e.conftest import E2ETenant, Site

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

UX_TENANT = ("lab-e2e-ux", "Lab E2E UX", "lab-e2e-ux.localhost")
RUN_TIMEOUT_MS = 60_000
DEMOGRAPHICS = "participant_id,session,age\n" + "".join(
    f"P{i:02d},{s},{20 + i}\n" for i in range(1, 13) for s in ("BAS1", "FU1")
)
MEMORY = "participant_id,session,score\n" + "".join(f"P{i:02d},BAS1,{90 + i}\n" for i in range(1, 13))


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
    from django_tenants.utils import tenant_context

    from datasets.services import ingest_file_sync, study_create
    from queries.run_executor import query_run_execute
    from queries.services import query_run_create
    from tenants.models import User

    slug = f"ux-{uuid.uuid4().hex[:6]}"
    with committed_db(), tenant_context(tenant.obj()):
        study = study_create(
            tenant=tenant.obj(),
            actor=None,
            slug=slug,
            name=slug.title(),
            id_column="participant_id",
            session_column="session",
        )
        for name, text in (("demographics", DEMOGRAPHICS), ("memory", MEMORY)):
            path = tmp_path / f"{name}.csv"
            path.write_text(text, encoding="utf-8")
            kind = "demographics" if name == "demographics" else "measure"
            assert ingest_file_sync(study=study, path=path, dataset_name=name, kind=kind).version
        run = query_run_create(
            tenant=tenant.obj(),
            actor=User.objects.get(pk=analyst_pk),
            study=study,
            payload={"columns": {"memory": ["score"]}},
            enqueue=False,
        )
        assert query_run_execute(run.pk) == "succeeded"
    return run.pk


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
