"""A steward sets up a study in the browser: wizard, demographics, key columns, measures, catalog, versions.

The ingests run on a real Celery worker (the ``celery_worker`` fixture), exactly as in production: the pages only
queue them and poll their status.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tenants.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

INGEST_TIMEOUT_MS = 60_000

DEMOGRAPHICS = "participant_id,session,age,sex,site,handedness\n" + "".join(
    f"P{i:03d},{session},{20 + i}.5,{'F' if i % 2 else 'M'},{'Discovery' if i % 3 else 'Discovery;Memory'},right\n"
    for i in range(1, 7)
    for session in ("BAS1", "FU1")
)  # 12 rows: the preview shows the first 10
COGNITIVE = "participant_id,session,working_memory,processing_speed,notes\n" + "".join(
    f"P{i:03d},BAS1,{90 + 3 * i},{45 + i}.25,{'ok' if i % 2 else ''}\n" for i in range(1, 6)
)
COGNITIVE_V2 = "participant_id,session,working_memory,processing_speed,attention\n" + "".join(
    f"P{i:03d},{session},{90 + 3 * i},{45 + i}.25,{i % 4}\n" for i in range(1, 7) for session in ("BAS1", "FU1")
)
FLANKER = "participant_id,session,rt_congruent,rt_incongruent,accuracy\n" + "".join(
    f"P{i:03d},{session},{400 + 7 * i},{450 + 9 * i},0.{80 + i}\n" for i in range(1, 7) for session in ("BAS1", "FU1")
)


def drop_files(page: Any, selector: str, files: dict[str, str]) -> None:
    """Drag and drop files (name -> text) onto an element, as a user dragging them from their desktop."""
    transfer = page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const [name, text] of Object.entries(files)) dt.items.add(new File([text], name, {type: "text/csv"}));
            return dt;
        }""",
        files,
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def upload_row(page: Any, filename: str) -> Any:
    return page.locator("tr.upload-row").filter(has=page.locator("[data-filename]", has_text=filename))


def test_study_setup_wizard_to_catalog_and_a_second_version(
    page, site, e2e_tenant, make_user, screenshot, celery_worker, tmp_path: Path
) -> None:
    steward = make_user((e2e_tenant, Role.STEWARD))
    site.sign_in(page, steward.email, steward.password)
    token = uuid.uuid4().hex[:6]

    # The Studies link in the top bar; a steward may start a new study.
    page.get_by_role("link", name="Studies", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Studies")
    page.goto(site.url("/studies/new/"))

    # Step 1: the short name follows the study name until the user edits it.
    expect(page.locator(".wizard-steps [aria-current=step]")).to_contain_text("Create the study")
    page.get_by_label("Study name").fill(f"Sleep and Memory {token}")
    expect(page.get_by_label("Short name (in addresses)")).to_have_value(f"sleep-and-memory-{token}")
    page.get_by_label("Description").fill("Two visits of sleep and memory measures.")
    screenshot(page, "1-create")
    page.get_by_role("button", name="Continue").click()
    slug = f"sleep-and-memory-{token}"
    expect(page).to_have_url(site.url("/studies/new/setup/"))  # nothing is created before the demographics

    # Step 2: the demographics file, through the file chooser (the drop zone's input).
    expect(page.get_by_role("heading", name="2. Upload the demographics table")).to_be_visible()
    screenshot(page, "2-demographics")
    demographics = tmp_path / "Demographics.CSV"
    demographics.write_text(DEMOGRAPHICS, encoding="utf-8")
    page.get_by_label(re.compile("Drop the demographics CSV here")).set_input_files(str(demographics))
    expect(page.locator("[data-dropzone-name]")).to_contain_text("Demographics.CSV")
    page.get_by_role("button", name="Upload and preview").click()

    # Step 3: the suggested key columns are preselected; the preview shows the first 10 rows as written.
    expect(page.get_by_role("heading", name="3. Confirm the key columns")).to_be_visible()
    expect(page.get_by_label("Participant ID column")).to_have_value("participant_id")
    expect(page.get_by_label("Session column")).to_have_value("session")
    expect(page.get_by_label("Age column")).to_have_value("age")
    expect(page.get_by_label("Sex column")).to_have_value("sex")
    expect(page.get_by_label(re.compile("Site / substudy column"))).to_have_value("site")
    preview = page.locator("[data-preview]")
    expect(preview.locator("tbody tr")).to_have_count(10)
    expect(preview.locator("tbody tr").first.locator("td").first).to_have_text("P001")
    expect(preview.locator("tbody tr").first.locator("td").nth(2)).to_have_text("21.5")
    expect(preview.locator("th.is-key")).to_have_count(5)
    screenshot(page, "3-keys")
    page.get_by_role("button", name="Confirm keys and import").click()

    # The worker imports the demographics; the page moves on to the measures step by itself.
    expect(page.get_by_role("heading", name="4. Upload measure tables")).to_be_visible(timeout=INGEST_TIMEOUT_MS)
    expect(page).to_have_url(site.url(f"/studies/{slug}/setup/"))
    expect(page.locator(".alert--success")).to_contain_text("12 rows · 6 participants · 2 sessions")

    # Step 4: two measure files by drag and drop; each row gets its suggested name.
    drop_files(page, "[data-uploader] [data-dropzone]", {"cognitive.csv": COGNITIVE, "Flanker Task.csv": FLANKER})
    expect(page.locator("tr.upload-row")).to_have_count(2)
    expect(upload_row(page, "cognitive.csv").locator("[data-field=name]")).to_have_value("cognitive")
    flanker_name = upload_row(page, "Flanker Task.csv").locator("[data-field=name]")
    expect(flanker_name).not_to_have_value("")
    flanker_name.fill("flanker")
    expect(upload_row(page, "cognitive.csv").locator("[data-field=kind]")).to_have_value("measure")
    screenshot(page, "4-measures-ready")
    page.get_by_role("button", name="Upload 2 files").click()
    for filename, rows in (("cognitive.csv", "5 rows"), ("Flanker Task.csv", "12 rows")):
        status = upload_row(page, filename).locator("[data-status-cell]")
        expect(status.locator("[data-status=succeeded]")).to_be_visible(timeout=INGEST_TIMEOUT_MS)
        expect(status).to_contain_text("version 1")
        expect(status).to_contain_text(rows)
    screenshot(page, "5-measures-done")

    # The catalog: three datasets with their row counts.
    page.get_by_role("link", name="Continue to the catalog").click()
    expect(page).to_have_url(site.url(f"/studies/{slug}/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sleep and Memory {token}")
    table = page.locator(".datasets-table tbody tr")
    expect(table).to_have_count(3)
    for name, rows in (("demographics", "12"), ("cognitive", "5"), ("flanker", "12")):
        expect(page.locator(f"tr[data-dataset={name}] [data-rows]")).to_have_text(rows)
    expect(page.locator(".keys")).to_contain_text("Longitudinal")
    screenshot(page, "6-catalog")

    # The dataset page: its data dictionary.
    page.get_by_role("link", name="cognitive", exact=True).click()
    expect(page).to_have_url(site.url(f"/studies/{slug}/datasets/cognitive/"))
    dictionary = page.locator(".dictionary-table")
    expect(dictionary.locator("tbody tr")).to_have_count(5)
    memory = dictionary.locator("tr[data-column=working_memory]")
    expect(memory).to_contain_text("integer")
    expect(memory.locator("svg.sparkline")).to_be_visible()
    # A steward describes a column, from the keyboard.
    page.get_by_role("button", name="Edit description and sensitivity of notes").click()
    description = page.get_by_label("Description of notes")
    expect(description).to_be_focused()
    description.fill("Examiner remarks (free text).")
    page.get_by_label("Sensitivity of notes").select_option("sensitive")
    page.locator("tr[data-column=notes]").get_by_role("button", name="Save").click()
    expect(page.locator("tr[data-column=notes]")).to_contain_text("Examiner remarks (free text).")
    expect(page.locator("tr[data-column=notes]")).to_contain_text("Sensitive")
    screenshot(page, "7-dataset")

    # The same name again -> version 2, with its diff.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=f"Sleep and Memory {token}").click()
    page.get_by_role("link", name="Upload", exact=True).click()
    again = tmp_path / "cognitive.csv"
    again.write_text(COGNITIVE_V2, encoding="utf-8")
    page.locator("[data-uploader-input]").set_input_files(str(again))
    row = upload_row(page, "cognitive.csv")
    expect(row).to_contain_text("Name taken")
    expect(row.get_by_label("Add a new version of it")).to_be_checked()
    row.get_by_text("Encoding & note").click()
    row.locator("[data-field=note]").fill("added attention, second visits")
    screenshot(page, "8-upload-clash")
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(row.locator("[data-status=succeeded]")).to_be_visible(timeout=INGEST_TIMEOUT_MS)
    expect(row.locator("[data-status-cell]")).to_contain_text("version 2")
    row.get_by_role("link", name=re.compile("cognitive")).click()
    latest = page.locator("tr[data-version='2']")
    expect(latest).to_contain_text("added attention, second visits")
    diff = latest.locator("[data-diff]")
    expect(diff).to_contain_text("attention")
    expect(diff).to_contain_text("notes")
    expect(diff).to_contain_text("+7")
    expect(page.locator("tr[data-version='1'] [data-diff]")).to_contain_text("First version")
    screenshot(page, "9-dataset-v2")

    # The history of the study lists the versions and the description change.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=f"Sleep and Memory {token}").click()
    page.get_by_role("link", name="History", exact=True).click()
    expect(page.locator(".timeline")).to_contain_text("cognitive v2")
    expect(page.locator(".timeline")).to_contain_text("Examiner remarks (free text).")
    screenshot(page, "10-history")


def test_upload_errors_warnings_and_roles_are_explained(
    page, browser, site, e2e_tenant, make_user, committed_db, screenshot, celery_worker, tmp_path: Path
) -> None:
    from django_tenants.utils import tenant_context

    from datasets.services import ingest_file_sync, study_create

    token = uuid.uuid4().hex[:6]
    slug = f"errors-{token}"
    demographics = tmp_path / "demographics.csv"
    demographics.write_text(DEMOGRAPHICS, encoding="utf-8")
    with committed_db(), tenant_context(e2e_tenant.obj()):
        study = study_create(
            tenant=e2e_tenant.obj(),
            actor=None,
            slug=slug,
            name=f"Error Study {token}",
            id_column="participant_id",
            session_column="session",
        )
        assert ingest_file_sync(
            study=study, path=demographics, dataset_name="demographics", kind="demographics"
        ).version
    steward = make_user((e2e_tenant, Role.STEWARD))
    viewer = make_user((e2e_tenant, Role.VIEWER))

    site.sign_in(page, steward.email, steward.password)
    page.goto(site.url(f"/studies/{slug}/upload/"))
    unknown = COGNITIVE + "P999,BAS1,120,60.25,new person\n"
    drop_files(
        page,
        "[data-uploader] [data-dropzone]",
        {"no id.csv": "subject,score\nP001,3\n", "readme.txt": "hello", "cognitive.csv": unknown},
    )
    expect(page.locator("[data-uploader-error]")).to_contain_text("readme.txt is not a .csv file")
    expect(page.locator("tr.upload-row")).to_have_count(2)
    # The file without the key columns is stopped in the browser, before it is sent.
    stopped = upload_row(page, "no id.csv").locator("[data-status-cell]")
    expect(stopped.locator("[data-header-missing]")).to_contain_text(
        "This file has no participant_id or session column."
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(stopped.locator("[data-header-missing]")).to_be_visible()
    warned = upload_row(page, "cognitive.csv").locator("[data-status-cell]")
    expect(warned.locator("[data-status=succeeded]")).to_be_visible(timeout=INGEST_TIMEOUT_MS)
    expect(warned.locator(".ingest__warnings")).to_be_visible()
    expect(warned).to_contain_text("P999")
    screenshot(page, "errors")

    # A viewer is told why the upload page is closed to them; the catalog works without upload buttons.
    other = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    try:
        viewer_page = other.new_page()
        site.sign_in(viewer_page, viewer.email, viewer.password)
        response = viewer_page.goto(site.url(f"/studies/{slug}/upload/"))
        assert response.status == 403
        expect(viewer_page.get_by_role("heading", level=1)).to_have_text("No access")
        expect(viewer_page.locator(".error-page")).to_contain_text(
            "Your role (viewer) may not upload data; it needs steward or above."
        )
        screenshot(viewer_page, "viewer-upload")
        viewer_page.goto(site.url("/studies/"))
        expect(viewer_page.get_by_role("link", name="New study")).to_have_count(0)
        expect(viewer_page.get_by_role("link", name=f"Error Study {token}")).to_be_visible()
        screenshot(viewer_page, "viewer-list")
        viewer_page.get_by_role("link", name=f"Error Study {token}").click()
        # A few participants only: below the threshold a viewer sees no size, and no participant id in the warnings
        expect(viewer_page.locator("tr[data-dataset=cognitive] [data-rows]")).to_have_text("—")
        expect(viewer_page.locator("body")).not_to_contain_text("P999")
        expect(viewer_page.get_by_text("Uploading needs the steward role.")).to_be_visible()
    finally:
        other.close()
