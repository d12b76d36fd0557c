"""Governance in the browser: an analyst of a metadata-only workspace requests query access under the study's terms,
a steward approves it in the console with an expiry, the analyst is notified and runs a query on a real Celery
worker, and once the grant expires the same run is refused (expiry checked at use, not by the cleanup task)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role
from tests.e2e.conftest import E2ETenant, Site

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

GOV_TENANT = ("lab-e2e-gov", "Lab E2E Governance", "lab-e2e-gov.localhost")
RUN_TIMEOUT_MS = 60_000
DEMOGRAPHICS = "participant_id,age,sex\n" + "".join(
    f"P{i:03d},{20 + i},{'F' if i % 2 else 'M'}\n" for i in range(1, 25)
)
COGNITIVE = "participant_id,working_memory\n" + "".join(f"P{i:03d},{80 + 2 * i}\n" for i in range(1, 25))
TERMS = "Use the data for the stated purpose only. Never try to re-identify participants."


@pytest.fixture(scope="module")
def gov_tenant(django_db_setup: None, django_db_blocker: Any) -> E2ETenant:
    """A workspace whose analysts see catalog metadata only unless granted more (committed, created once)."""
    from django.db import connection

    from tenants.models import Tenant
    from tenants.services import tenant_create

    with django_db_blocker.unblock():
        slug, name, domain = GOV_TENANT
        tenant_create(slug=slug, name=name, domain=domain)
        Tenant.objects.filter(slug=slug).update(settings={"analyst_default_level": "metadata"})
        connection.set_schema_to_public()
    return E2ETenant(*GOV_TENANT)


def _seed(committed_db: Callable[..., Any], tenant: E2ETenant, steward_pk: int, tmp_path: Path) -> tuple[str, str]:
    from django_tenants.utils import tenant_context

    from approvals.services import dua_create
    from datasets.services import ingest_file_sync, study_create
    from tenants.models import User

    token = uuid.uuid4().hex[:6]
    slug, name = f"consent-{token}", f"Consent Study {token}"
    with committed_db(), tenant_context(tenant.obj()):
        study = study_create(tenant=tenant.obj(), actor=None, slug=slug, name=name, id_column="participant_id")
        for dataset, text in (("demographics", DEMOGRAPHICS), ("cognitive", COGNITIVE)):
            path = tmp_path / f"{dataset}.csv"
            path.write_text(text, encoding="utf-8")
            kind = "demographics" if dataset == "demographics" else "measure"
            job = ingest_file_sync(study=study, path=path, dataset_name=dataset, kind=kind)
            assert job.version, job.error_message
        dua_create(tenant=tenant.obj(), actor=User.objects.get(pk=steward_pk), study=study, text=TERMS)
    return slug, name


def _expire_grants(committed_db: Callable[..., Any], tenant: E2ETenant, request_id: int) -> None:
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from access.models import Grant

    with committed_db(), tenant_context(tenant.obj()):
        expired = Grant.objects.filter(source=f"access_request:{request_id}").update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        assert expired == 2


def test_request_approve_use_expire(
    browser, e2e_live_server, gov_tenant, make_user, committed_db, screenshot, celery_worker, tmp_path: Path
) -> None:
    site = Site(e2e_live_server, gov_tenant.domain)
    analyst = make_user((gov_tenant, Role.ANALYST), prefix="gov-analyst")
    steward = make_user((gov_tenant, Role.STEWARD), prefix="gov-steward")
    slug, name = _seed(committed_db, gov_tenant, steward.pk, tmp_path)
    analyst_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    steward_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        page = analyst_ctx.new_page()
        site.sign_in(page, analyst.email, analyst.password)

        # 1. The analyst asks for query access from the study's catalog page, accepting the terms.
        page.goto(site.url(f"/studies/{slug}/"))
        page.locator("a.btn", has_text="Request access").click()  # the study-wide button (rows have their own)
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Request access to {name}")
        expect(page.locator(".terms")).to_contain_text("Never try to re-identify participants.")
        page.locator("input[name=datasets][value=demographics]").check()
        page.locator("input[name=datasets][value=cognitive]").check()
        page.get_by_label("Access level").select_option("query")
        page.get_by_label("Purpose").fill("Working memory across age groups.")
        page.get_by_label(re.compile("I accept the terms of use")).check()
        page.get_by_role("button", name="Send request").click()
        expect(page).to_have_url(site.url("/access/requests/"))
        item = page.locator("article.request").first
        expect(item.locator("[data-status]")).to_have_text("pending")
        request_id = int(item.get_attribute("data-request") or 0)
        screenshot(page, "1-requested")

        # 2. The steward approves it in the console, with an expiry.
        console = steward_ctx.new_page()
        site.sign_in(console, steward.email, steward.password)
        expect(console.locator("[data-unread]")).to_be_visible()  # stewards are notified of new requests
        console.get_by_role("link", name="Console").click()
        expect(console).to_have_url(site.url("/console/requests/"))
        pending = console.locator(f"article[data-request='{request_id}']")
        expect(pending).to_contain_text(analyst.email)
        expect(pending).to_contain_text("Working memory across age groups.")
        expect(pending).to_contain_text("Accepted terms v1")
        approve = pending.get_by_role("form", name=f"Approve request #{request_id}")
        expires = (e2e_now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
        approve.get_by_label("Expires (optional)").fill(expires)
        screenshot(console, "2-queue")
        approve.get_by_role("button", name="Approve").click()
        expect(console.locator(".alert--success")).to_contain_text(f"Request #{request_id} approved.")

        # 3. The analyst is notified and runs a query in the builder.
        page.goto(site.url("/"))
        expect(page.locator("[data-unread]")).to_have_text("1")
        page.get_by_role("link", name=re.compile("Notifications")).click()
        expect(page.locator(".notification").first).to_contain_text(f"request #{request_id} was approved: query")
        page.goto(site.url("/access/requests/"))
        expect(page.locator(f"article[data-request='{request_id}'] [data-status]")).to_have_text("approved")
        page.goto(site.url(f"/queries/{slug}/"))
        expect(page.locator("#live-count [data-participants]")).to_have_text("24")
        page.get_by_role("button", name="Run query").click()
        panel = page.locator("#run-panel")
        expect(panel.locator("[data-run-status=succeeded]")).to_be_visible(timeout=RUN_TIMEOUT_MS)
        expect(panel.locator("[data-row-count]")).to_have_text("24")
        screenshot(page, "3-ran")

        # 4. The grant expires while the builder is open: the next run is refused at once (checked at use, no
        #    cleanup task involved), and the reloaded builder shows the catalog-only state.
        _expire_grants(committed_db, gov_tenant, request_id)
        page.get_by_role("button", name="Run query").click()
        refused = page.locator("#run-panel[data-status=error]")
        expect(refused).to_contain_text("The query cannot run.")
        expect(refused).to_contain_text("access_level_insufficient")
        page.goto(site.url(f"/queries/{slug}/"))
        expect(page.locator("[data-empty=no-access]")).to_contain_text("not its data")
        page.goto(site.url("/access/requests/"))
        expect(page.locator(f"article[data-request='{request_id}'] [data-status]")).to_have_text("expired")
        screenshot(page, "4-expired")
    finally:
        analyst_ctx.close()
        steward_ctx.close()


def e2e_now() -> Any:
    from django.utils import timezone

    return timezone.localtime()
