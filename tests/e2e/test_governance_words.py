"""Governance screens in people's words: grouped and labelled settings with units, Explain reasons as sentences,
audit targets and actions by name, "What changed" key by key, the roles explained on the members page with a
search, a one-line header for a steward at 1440 px, and the bell cleared once another steward decided."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role
from tests.e2e.conftest import E2ETenant, Site

pytestmark = [pytest.mark.e2e]

WORDS_TENANT = ("lab-e2e-words", "Lab E2E Words and Governance of Research Data", "lab-e2e-words.localhost")


@pytest.fixture(scope="module")
def words_tenant(django_db_setup: None, django_db_blocker: Any) -> E2ETenant:
    from django.db import connection

    from tenants.models import Tenant
    from tenants.services import tenant_create

    with django_db_blocker.unblock():
        slug, name, domain = WORDS_TENANT
        tenant_create(slug=slug, name=name, domain=domain)
        Tenant.objects.filter(slug=slug).update(settings={"analyst_default_level": "metadata"})
        connection.set_schema_to_public()
    return E2ETenant(*WORDS_TENANT)


@pytest.fixture
def wide(browser: Any, e2e_live_server: Any) -> Any:
    contexts: list[Any] = []

    def _new() -> Any:
        contexts.append(browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US"))
        return contexts[-1].new_page()

    yield _new
    for ctx in contexts:
        ctx.close()


def _seed(committed_db: Any, tenant: E2ETenant, tmp_path: Path) -> str:
    from django_tenants.utils import tenant_context

    from datasets.services import ingest_file_sync, study_create

    slug = f"words-{uuid.uuid4().hex[:6]}"
    with committed_db(), tenant_context(tenant.obj()):
        study = study_create(tenant=tenant.obj(), actor=None, slug=slug, name=slug.title(), id_column="participant_id")
        path = tmp_path / "demographics.csv"
        path.write_text("participant_id,age\n" + "".join(f"P{i},{20 + i}\n" for i in range(30)), encoding="utf-8")
        assert ingest_file_sync(study=study, path=path, dataset_name="demographics", kind="demographics").version
    return slug


def test_settings_explain_audit_members_in_words(
    wide, e2e_live_server, words_tenant, make_user, committed_db, screenshot, tmp_path: Path
) -> None:
    site = Site(e2e_live_server, words_tenant.domain)
    slug = _seed(committed_db, words_tenant, tmp_path)
    owner = make_user((words_tenant, Role.OWNER), prefix="owner")
    analyst = make_user((words_tenant, Role.ANALYST), prefix="analyst")
    page = wide()
    site.sign_in(page, owner.email, owner.password)

    # Settings: grouped, labelled, with selects and units.
    page.goto(site.url("/console/settings/"))
    for group in ("Privacy and access", "Sign-in and tokens", "Storage and uploads", "Query limits"):
        expect(page.locator(f"[data-settings-group='{group}'] legend")).to_have_text(group)
    quota = page.locator("[data-setting=storage_quota_bytes]")
    expect(quota).to_contain_text("Storage for dataset files")
    expect(quota.locator("[data-effective]")).to_have_text("200")
    expect(quota).to_contain_text("GiB")
    default = page.get_by_label("What analysts get without a grant")
    expect(default.locator("option")).to_contain_text(["Default", "Metadata: catalog and data dictionary only"])
    expect(page.locator("[data-setting=mfa_required]")).to_contain_text("Require two-factor sign-in")
    page.get_by_label("Storage for dataset files").fill("100")
    default.select_option("count")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".alert--success")).to_contain_text("Saved: What analysts get without a grant, Storage for")
    expect(page.locator("[data-setting=storage_quota_bytes] [data-effective]")).to_have_text("100")
    expect(page.get_by_label("What analysts get without a grant")).to_have_value("count")
    screenshot(page, "1-settings")

    # What changed: one line per setting, no JSON.
    page.goto(site.url("/audit/history/?kind=settings"))
    latest = page.locator("[data-history] li").first
    expect(latest).to_contain_text("settings: storage_quota_bytes")
    expect(latest).to_contain_text("107374182400")
    expect(latest).not_to_contain_text("{")

    # Explain: reasons as sentences.
    page.goto(site.url(f"/console/explain/?email={analyst.email}&dataset_ref={slug}/demographics"))
    expect(page.locator("[data-source=tenant_default] td").first).to_have_text("The workspace's default for their role")
    expect(page.locator(".explain-result")).not_to_contain_text("tenant_default")

    # Audit log: targets by kind and name, actions from a list.
    page.goto(site.url("/audit/"))
    action = page.get_by_label("Action")
    expect(action.locator("option", has_text="Tenant settings changed")).to_have_count(1)
    action.select_option("tenant.settings_changed")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("[data-audit-events] tbody tr")
    expect(rows.first).to_contain_text("Tenant settings changed")
    expect(rows.first.locator("[data-target]")).to_contain_text(re.compile(r"\(workspace #\d+\)|\(tenant #\d+\)"))
    page.goto(site.url("/audit/?action=study."))
    expect(page.get_by_label("Action")).to_have_value("study.")
    expect(page.locator("[data-audit-events]")).not_to_contain_text("datasets.study")
    screenshot(page, "2-audit")

    # Members: the roles in words, and a search.
    page.goto(site.url("/console/members/"))
    expect(page.locator("body")).not_to_contain_text("docs/permissions.md")
    page.get_by_text("What each role can do").click()
    expect(page.locator("[data-roles-help]")).to_contain_text("Sees the catalog and data dictionaries only")
    page.get_by_label("Find a member").fill("analyst-")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tr[data-member]")).to_have_count(1)
    expect(page.locator(f"tr[data-member='{analyst.email}']")).to_be_visible()
    page.get_by_label("Find a member").fill("nobody-like-this")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("[data-no-members]")).to_be_visible()


def test_header_on_one_line_and_bell_cleared(
    wide, e2e_live_server, words_tenant, make_user, committed_db, tmp_path: Path
) -> None:
    site = Site(e2e_live_server, words_tenant.domain)
    slug = _seed(committed_db, words_tenant, tmp_path)
    owner = make_user((words_tenant, Role.OWNER), prefix="owner-with-a-long-institutional-address-of-the-department")
    steward = make_user((words_tenant, Role.STEWARD), prefix="data-steward-of-the-clinical-research-unit")
    analyst = make_user((words_tenant, Role.ANALYST), prefix="analyst")

    s_page = wide()
    site.sign_in(s_page, steward.email, steward.password)
    links = s_page.get_by_role("navigation", name="Main").get_by_role("link")
    tops = {round(box["y"]) for box in (links.nth(i).bounding_box() for i in range(links.count())) if box}
    assert len(tops) == 1, tops  # one row
    assert (s_page.locator(".topbar").bounding_box() or {"height": 999})["height"] < 70
    assert int(s_page.evaluate("document.documentElement.scrollWidth")) <= 1440

    # The analyst asks; the owner and the steward are notified.
    r_page = wide()
    site.sign_in(r_page, analyst.email, analyst.password)
    r_page.goto(site.url(f"/studies/{slug}/"))
    r_page.locator("a.btn", has_text="Request access").click()
    r_page.locator("input[name=datasets][value=demographics]").check()
    r_page.get_by_label("Purpose").fill("Age distribution.")
    r_page.get_by_role("button", name="Send request").click()
    expect(r_page).to_have_url(site.url("/access/requests/"))

    o_page = wide()
    site.sign_in(o_page, owner.email, owner.password)
    expect(o_page.locator("[data-unread]")).to_have_text("1")

    # The steward decides: the owner's bell has nothing left for them.
    s_page.goto(site.url("/console/requests/"))
    s_page.locator("article.request").first.get_by_role("button", name="Approve", exact=True).click()
    expect(s_page.locator(".alert--success")).to_contain_text("approved")
    o_page.reload()
    expect(o_page.locator("[data-unread]")).to_have_count(0)
    s_page.reload()
    expect(s_page.locator("[data-unread]")).to_have_count(0)
