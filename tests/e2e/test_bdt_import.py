"""A researcher brings their BDT project (Rockland layout + BDT's default config.toml) through the wizard: the keys
step reads the config the way BDT does and says what it leaves out, the study appears with its demographics, the
measure table is dropped in, and the builder starts from the config's [ui] defaults with counts equal to BDT's."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tenants.roles import Role
from tests.bdt_compat.oracle import FIXTURES, Layout

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

INGEST_TIMEOUT_MS = 60_000


def test_a_bdt_folder_through_the_wizard(page, site, e2e_tenant, make_user, screenshot, celery_worker) -> None:
    data = Layout("rockland")
    steward = make_user((e2e_tenant, Role.STEWARD))
    site.sign_in(page, steward.email, steward.password)
    token = uuid.uuid4().hex[:6]
    slug = f"rockland-{token}"

    # Step 1: name + BDT's config.toml. Nothing exists yet.
    page.goto(site.url("/studies/new/"))
    page.get_by_label("Study name").fill(f"Rockland {token}")
    page.get_by_label("BDT configuration").set_input_files(str(FIXTURES / "config.toml"))
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(site.url("/studies/new/setup/"))
    expect(page.locator(".page-head")).to_contain_text("not created yet")
    summary = page.locator("[data-config-summary]")
    expect(summary).to_contain_text("nested form")
    expect(summary).to_contain_text("ages 18–80, 50 rows per preview page")
    expect(summary).to_contain_text("state.backend")  # read, and said to mean nothing here

    # Step 2: the demographics file of the folder.
    page.get_by_label(re.compile("Drop the demographics CSV here")).set_input_files(
        str(data.folder / "demographics.csv")
    )
    page.get_by_role("button", name="Upload and preview").click()

    # Step 3: keys from the config, read against this header; what does not fit is said, with the look-alike.
    expect(page.get_by_role("heading", name="3. Confirm the key columns")).to_be_visible()
    expect(page.get_by_label("Participant ID column")).to_have_value("ursi")
    expect(page.get_by_label("Session column")).to_have_value("session_num")
    expect(page.get_by_label("Age column")).to_have_value("age")
    expect(page.get_by_label("Sex column")).to_have_value("sex")
    expect(page.get_by_label(re.compile("Site / substudy column"))).to_have_value("")
    expect(page.get_by_label(re.compile("Composite ID column"))).to_have_value("customID")
    notes = page.locator("[data-key-notes]")
    expect(notes).to_contain_text("The site column 'all_sites' of config.toml is not in the demographics file")
    expect(notes).to_contain_text("'all_studies' looks like a site column")
    expect(page.locator("[data-preview] th.is-key")).to_have_count(5)
    expect(page.locator("[data-preview] th[data-col=customID]")).to_contain_text("composite ID (derived)")
    page.get_by_label(re.compile("Site / substudy column")).select_option("all_studies")
    screenshot(page, "1-keys-from-config")
    page.get_by_role("button", name="Confirm keys and import").click()

    # The worker registers the demographics and creates the study with it; the wizard moves on by itself.
    expect(page.get_by_role("heading", name="4. Upload measure tables")).to_be_visible(timeout=INGEST_TIMEOUT_MS)
    expect(page).to_have_url(site.url(f"/studies/{slug}/setup/"))
    expect(page.locator(".alert--success")).to_contain_text("5 rows · 3 participants · 2 sessions")

    # Step 4: the folder's measure table, dropped in.
    page.locator("[data-uploader] input[type=file]").set_input_files(str(data.folder / "flanker.csv"))
    expect(page.locator("tr.upload-row [data-field=name]")).to_have_value("flanker")
    page.get_by_role("button", name="Upload", exact=True).click()
    status = page.locator("tr.upload-row [data-status-cell]")
    expect(status.locator("[data-status=succeeded]")).to_be_visible(timeout=INGEST_TIMEOUT_MS)
    expect(status).to_contain_text("4 rows")
    expect(status).to_contain_text("composite id (ursi_session_num) and matches every row")

    # The catalog: longitudinal by ursi + session_num, the composite id derived, the builder defaults.
    page.get_by_role("link", name="Continue to the catalog").click()
    keys = page.locator(".keys")
    expect(keys).to_contain_text("Longitudinal")
    expect(keys).to_contain_text("customID")
    expect(keys).to_contain_text("ages 18–80, 50 rows per preview page")
    screenshot(page, "2-catalog")

    # The builder starts at BDT's default age range within the data's ages ([max(25, 18), min(67, 80)], like BDT's
    # slider); counts are BDT's (participant-sessions are what BDT called rows).
    page.get_by_role("link", name="Build a query").click()
    expect(page.locator("#age_lo")).to_have_value("25")
    expect(page.locator("#age_hi")).to_have_value("67")
    count = page.locator("#live-count")
    participants, rows = data.count(age=(18.0, 80.0))
    expect(count.locator("[data-participants]")).to_have_text(str(participants))
    expect(count.locator("[data-rows]")).to_have_text(str(rows))
    page.get_by_label("Discovery", exact=True).check()  # ';'-joined memberships match (BDT matched none)
    participants, rows = data.count(age=(18.0, 80.0), sites=["Discovery"])
    expect(count.locator("[data-participants]")).to_have_text(str(participants))
    expect(count.locator("[data-rows]")).to_have_text(str(rows))
    expect(page.locator("#cols-flanker")).not_to_contain_text("customID")
    screenshot(page, "3-builder")


def test_cancelling_a_new_study_leaves_nothing(page, site, e2e_tenant, make_user, committed_db) -> None:
    from django_tenants.utils import tenant_context

    from datasets.models import Study

    steward = make_user((e2e_tenant, Role.STEWARD))
    site.sign_in(page, steward.email, steward.password)
    slug = f"abandoned-{uuid.uuid4().hex[:6]}"
    page.goto(site.url("/studies/new/"))
    page.get_by_label("Study name").fill("Abandoned")
    page.get_by_label("Short name (in addresses)").fill(slug)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label(re.compile("Drop the demographics CSV here")).set_input_files(
        str(Path(FIXTURES) / "cross_sectional" / "demographics.csv")
    )
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", name="3. Confirm the key columns")).to_be_visible()
    page.get_by_role("button", name="Cancel this new study").click()
    expect(page).to_have_url(site.url("/studies/"))
    with committed_db(), tenant_context(e2e_tenant.obj()):
        assert not Study.objects.filter(slug=slug).exists()
