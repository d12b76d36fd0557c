"""The portal end to end, on the live server with a real Celery worker: a new person signs up on the platform host,
confirms the address by the mailed link, creates a workspace and lands in it, creates a study choosing who sees it,
uploads, invites a colleague who accepts, and reads the Usage page; an operator then sets a quota that stops the
next upload cleanly, suspends and resumes the workspace, and downloads its export archive, which is opened here."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD, Site

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

INGEST_TIMEOUT_MS = 60_000
CREATE_TIMEOUT_MS = 180_000
PLATFORM = "platform.test"
DEMOGRAPHICS = "participant_id,age,sex\n" + "".join(f"S{i:03d},{30 + i},{'F' if i % 2 else 'M'}\n" for i in range(12))
MEASURE = "participant_id,score\n" + "".join(f"S{i:03d},{70 + i}\n" for i in range(12))


@pytest.fixture
def open_signup(monkeypatch: pytest.MonkeyPatch) -> Any:
    from core.config import config_reset

    monkeypatch.setenv("BDT_SELF_SIGNUP_ALLOWED", "1")
    config_reset()
    yield
    monkeypatch.undo()
    config_reset()


def _mailed_link(address: str, pattern: str) -> str:
    for message in reversed(mail.outbox):
        if address in message.to:
            found = re.search(pattern, message.body)
            if found:
                return found.group(0)
    raise AssertionError(f"no mail to {address} with {pattern}")


def _sign_up(page: Any, address: str) -> None:
    page.locator("input[name=email]").fill(address)
    page.locator("input[name=password1]").fill(PASSWORD)
    page.locator("input[name=password2]").fill(PASSWORD)
    page.locator("form").filter(has=page.locator("input[name=password2]")).locator("button[type=submit]").click()


def test_sign_up_to_usage_and_the_operator_console(
    page, browser, e2e_live_server, committed_db, open_signup, celery_worker, screenshot, tmp_path: Path
) -> None:
    token = uuid.uuid4().hex[:6]
    platform = Site(e2e_live_server, PLATFORM)
    founder = f"founder-{token}@example.org"
    slug = f"neuro-{token}"
    workspace = Site(e2e_live_server, f"{slug}.test")

    # Sign up on the platform host; nothing works before the address is confirmed.
    page.goto(platform.url("/"))
    page.get_by_role("link", name="Create an account").click()
    _sign_up(page, founder)
    expect(page.locator("body")).to_contain_text(re.compile("verif|confirm", re.I))
    link = _mailed_link(founder, r"http://platform\.test:\d+/accounts/confirm-email/[^/\s]+/")
    page.goto(link)
    page.get_by_role("button", name=re.compile("confirm", re.I)).click()
    if "/accounts/login/" in page.url:
        platform.sign_in(page, founder, PASSWORD)
    page.goto(platform.url("/"))
    expect(page.get_by_test_id("my-workspaces")).to_contain_text("not a member of any workspace yet")
    screenshot(page, "1-my-workspaces")

    # Create a workspace (a lab) and land in it, signed in, as its owner.
    page.get_by_role("link", name="Create a workspace").click()
    page.get_by_label("Name").fill(f"Neuro {token}")
    page.get_by_label("Address").fill(slug)
    page.get_by_role("radio", name=re.compile(r"Lab: your own")).check()
    screenshot(page, "2-create-workspace")
    with page.expect_navigation(url=workspace.url("/"), timeout=CREATE_TIMEOUT_MS):  # a schema is made and migrated
        page.get_by_role("button", name="Create the workspace").click(no_wait_after=True)
    expect(page).to_have_url(workspace.url("/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Neuro {token}")
    expect(page.locator(".hero")).to_contain_text("with the role Owner")

    # A study whose analysts see the catalog only, chosen in the wizard; its demographics and one measure uploaded.
    page.goto(workspace.url("/studies/new/"))
    page.get_by_label("Study name").fill(f"Sleep {token}")
    page.get_by_label("Who can see this study?").select_option("metadata")
    page.get_by_role("button", name="Continue").click()
    demographics = tmp_path / "demographics.csv"
    demographics.write_text(DEMOGRAPHICS, encoding="utf-8")
    page.get_by_label(re.compile("Drop the demographics CSV here")).set_input_files(str(demographics))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_label("Participant ID column")).to_have_value("participant_id")
    page.get_by_role("button", name="Confirm keys and import").click()
    expect(page.get_by_role("heading", name="4. Upload measure tables")).to_be_visible(timeout=INGEST_TIMEOUT_MS)
    study_url = page.url.replace("/setup/", "/")
    measure = tmp_path / "memory.csv"
    measure.write_text(MEASURE, encoding="utf-8")
    page.locator("[data-uploader-input]").set_input_files(str(measure))
    page.get_by_role("button", name=re.compile("^Upload")).click()
    row = page.locator("tr.upload-row").first
    expect(row.locator("[data-status=succeeded]")).to_be_visible(timeout=INGEST_TIMEOUT_MS)
    page.goto(workspace.url("/console/study-defaults/"))
    study_row = page.locator("tr[data-study]").first
    expect(study_row.locator("[data-effective]")).to_have_text("metadata")
    screenshot(page, "3-study-defaults")

    # Invite a colleague by e-mail; they create their account from the link and accept.
    colleague = f"colleague-{token}@example.org"
    page.goto(workspace.url("/console/members/"))
    page.get_by_label("E-mail address").fill(colleague)
    page.locator("form[action$='invite/'] button[type=submit], form[action*='invite'] button").first.click()
    invitation = _mailed_link(colleague, r"http://[a-z0-9-]+\.test:\d+/invitations/[^/\s]+/")
    other = browser.new_context()
    try:
        second = other.new_page()
        second.goto(invitation)
        expect(second.locator("body")).to_contain_text(f"You are invited to Neuro {token}")
        second.get_by_role("link", name="Create an account").click()
        _sign_up(second, colleague)
        if "/invitations/" not in second.url:
            second.goto(invitation)
        second.get_by_role("button", name="Accept the invitation").click()
        expect(second.locator(".hero")).to_contain_text("with the role Analyst")
        second.goto(study_url)
        expect(second.locator("body")).to_contain_text(f"Sleep {token}")
    finally:
        other.close()

    # The owner's Usage page: what is kept now, charts over 30 days, the sharing profile.
    page.goto(workspace.url("/"))
    page.get_by_label("User menu").click()
    page.get_by_role("menuitem", name="Usage & plan").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Usage and plan")
    expect(page.locator("[data-usage=datasets]")).to_have_text("2")
    expect(page.locator("tr[data-quota=members] td").first).to_have_text("2")
    expect(page.locator("[data-chart=storage_bytes] rect")).to_have_count(30)
    expect(page.get_by_test_id("sharing-profile")).to_contain_text("Sharing profile: Lab")
    screenshot(page, "4-usage")

    # An operator (platform staff) sets a storage quota below what is used: the next upload is refused cleanly.
    from tenants.models import User
    from tenants.services import user_get_or_create

    operator_email = f"operator-{token}@example.org"
    with committed_db():
        operator = user_get_or_create(email=operator_email, password=PASSWORD)
        User.objects.filter(pk=operator.pk).update(is_staff=True)
    staff_context = browser.new_context()
    try:
        staff = staff_context.new_page()
        platform.sign_in(staff, operator_email, PASSWORD)
        staff.goto(platform.url("/operator/"))
        ours = staff.locator(f"tr[data-workspace='{slug}']")
        expect(ours).to_contain_text(f"Neuro {token}")
        ours.get_by_text("Quotas", exact=True).click()
        ours.get_by_label("Storage bytes").fill("1000")
        ours.get_by_role("button", name="Save quotas").click()
        expect(staff.locator(".alert--success")).to_contain_text("quotas")
        ours = staff.locator(f"tr[data-workspace='{slug}']")
        expect(ours.locator("[data-quota=storage_bytes]")).to_have_attribute("data-level", "exceeded")
        screenshot(staff, "5-operator-quota")

        page.goto(study_url + "upload/")
        again = tmp_path / "more.csv"
        again.write_text(MEASURE, encoding="utf-8")
        page.locator("[data-uploader-input]").set_input_files(str(again))
        page.get_by_role("button", name=re.compile("^Upload")).click()
        refused = page.locator("tr.upload-row").first.locator("[data-status=error]")
        expect(refused).to_contain_text("storage quota")
        expect(refused).to_contain_text("quota_exceeded")
        screenshot(page, "6-upload-refused")
        page.goto(study_url)
        expect(page.locator(".datasets-table tbody tr")).to_have_count(2)  # nothing registered

        # Suspend: the workspace answers with a clear page; resume: everything is back.
        staff.locator(f"tr[data-workspace='{slug}']").get_by_role("button", name="Suspend").click()
        expect(staff.locator(f"tr[data-workspace='{slug}'] [data-state=suspended]")).to_be_visible()
        response = page.goto(study_url)
        assert response.status == 403
        expect(page.get_by_test_id("workspace-suspended")).to_contain_text("Nothing has been deleted")
        screenshot(page, "7-suspended")
        staff.locator(f"tr[data-workspace='{slug}']").get_by_role("button", name="Resume").click()
        expect(staff.locator(f"tr[data-workspace='{slug}'] [data-state=active]")).to_be_visible()
        assert page.goto(study_url).status == 200
        expect(page.locator(".datasets-table tbody tr")).to_have_count(2)

        # The export archive, downloaded from the console and opened here.
        with staff.expect_download() as download_info:
            staff.locator(f"tr[data-workspace='{slug}']").get_by_role("link", name="Export archive").click()
        archive_path = tmp_path / "export.zip"
        download_info.value.save_as(archive_path)
    finally:
        staff_context.close()
    with zipfile.ZipFile(archive_path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["workspace"] == slug
        for entry in manifest["files"]:
            assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
        studies = json.loads(archive.read("records/datasets.study.json"))
        assert [row["fields"]["name"] for row in studies] == [f"Sleep {token}"]
        grants = json.loads(archive.read("records/access.grant.json"))
        assert any(g["fields"]["role"] == "analyst" and g["fields"]["level"] == "metadata" for g in grants)
        names = archive.namelist()
        assert any(name.endswith("/memory/v1/data.parquet") for name in names)
        assert any("/demographics/v1/original-" in name for name in names)
        members = json.loads(archive.read("workspace.json"))["members"]
        assert {m["email"]: m["role"] for m in members} == {founder: "owner", colleague: "analyst"}
        audit = json.loads(archive.read("records/audit.auditevent.json"))
        actions = {row["fields"]["action"] for row in audit}
        assert {"tenant.created", "member.invitation_accepted", "tenant.suspended", "tenant.resumed"} <= actions
