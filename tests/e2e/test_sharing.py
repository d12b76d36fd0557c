"""Sharing in the browser: one person, steward of a lab and of a consortium, offers a study from the lab's console,
accepts it in the consortium's console, finds it on the consortium's sharing page and opens it as an ordinary
study; withdrawn from the lab's console, the consortium's study page refuses it at once."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role
from tests.e2e.conftest import E2ETenant, Site

pytestmark = pytest.mark.e2e

LAB = ("lab-e2e-share", "Lab E2E Sharing", "lab-e2e-share.localhost")
CONSORTIUM = ("cons-e2e-share", "Consortium E2E", "cons-e2e-share.localhost")
DEMOGRAPHICS = "participant_id,age\n" + "".join(f"P{i:03d},{20 + i}\n" for i in range(1, 31))


@pytest.fixture(scope="module")
def share_tenants(django_db_setup: None, django_db_blocker: Any) -> tuple[E2ETenant, E2ETenant]:
    from django.db import connection

    from tenants.services import tenant_create

    with django_db_blocker.unblock():
        tenant_create(slug=LAB[0], name=LAB[1], domain=LAB[2])
        tenant_create(slug=CONSORTIUM[0], name=CONSORTIUM[1], domain=CONSORTIUM[2], kind="consortium")
        connection.set_schema_to_public()
    return E2ETenant(*LAB), E2ETenant(*CONSORTIUM)


def _seed(committed_db: Callable[..., Any], lab: E2ETenant, tmp_path: Path) -> tuple[str, str]:
    from django_tenants.utils import tenant_context

    from datasets.services import ingest_file_sync, study_create

    token = uuid.uuid4().hex[:6]
    slug, name = f"shared-{token}", f"Shared Study {token}"
    with committed_db(), tenant_context(lab.obj()):
        study = study_create(tenant=lab.obj(), actor=None, slug=slug, name=name, id_column="participant_id")
        path = tmp_path / "demographics.csv"
        path.write_text(DEMOGRAPHICS, encoding="utf-8")
        job = ingest_file_sync(study=study, path=path, dataset_name="demographics", kind="demographics")
        assert job.version, job.error_message
    return slug, name


def test_offer_accept_open_withdraw(
    browser, e2e_live_server, share_tenants, make_user, committed_db, screenshot, tmp_path: Path
) -> None:
    lab, consortium = share_tenants
    person = make_user((lab, Role.STEWARD), (consortium, Role.STEWARD), prefix="share")
    slug, name = _seed(committed_db, lab, tmp_path)
    at_lab, at_consortium = Site(e2e_live_server, lab.domain), Site(e2e_live_server, consortium.domain)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())

        # 1. The lab's console: offer the study, with terms and a query ceiling.
        at_lab.sign_in(page, person.email, person.password)
        page.goto(at_lab.url("/console/sharing/"))
        form = page.get_by_role("region", name="Offer a study to a consortium")
        form.locator("select[name=study]").select_option(slug)
        form.locator("select[name=consortium]").select_option(CONSORTIUM[0])
        form.locator("select[name=level]").select_option("query")
        form.get_by_label("Terms of use").fill("Cite the lab in every publication.")
        form.get_by_role("button", name="Offer").click()
        expect(page.locator(".messages, [role=status], .flash").first).to_contain_text("Offered")
        row = page.locator("tr[data-contribution]", has_text=name)
        expect(row).to_contain_text("offered")
        screenshot(page, "1-offered")

        # 2. The consortium: the pending offer is on the sharing page; accepted in the console under a local slug.
        at_consortium.sign_in(page, person.email, person.password)
        page.get_by_role("link", name="Sharing", exact=True).click()
        expect(page.get_by_role("heading", name="Pending offers")).to_be_visible()
        expect(page.locator("main")).to_contain_text(name)
        page.goto(at_consortium.url("/console/sharing/"))
        offer = page.locator("tr[data-contribution]", has_text=name)
        offer.get_by_label("Local slug").fill(f"{slug}-c")
        offer.get_by_role("button", name="Accept").click()
        expect(page.locator(".messages, [role=status], .flash").first).to_contain_text("Accepted")
        page.goto(at_consortium.url("/sharing/"))
        expect(page.locator("main")).to_contain_text(LAB[1])
        expect(page.locator("main")).to_contain_text("Cite the lab in every publication.")
        screenshot(page, "2-accepted")
        page.get_by_role("link", name=name).click()
        expect(page).to_have_url(at_consortium.url(f"/studies/{slug}-c/"))
        expect(page.get_by_role("heading", level=1)).to_contain_text(name)

        # 3. The lab withdraws: the consortium's study page refuses it at once.
        page.goto(at_lab.url("/console/sharing/"))
        page.locator("tr[data-contribution]", has_text=name).get_by_role("button", name="Withdraw").click()
        expect(page.locator(".messages, [role=status], .flash").first).to_contain_text("Withdrawn")
        response = page.goto(at_consortium.url(f"/studies/{slug}-c/"))
        assert response is not None and response.status == 403
        expect(page.locator("main")).to_contain_text(re.compile("withdrew", re.I))
        screenshot(page, "3-withdrawn")
    finally:
        context.close()
