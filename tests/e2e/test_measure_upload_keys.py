"""A measure file whose id column has another name: the header is checked in the browser before anything is sent,
the steward names the column that holds the id (a good guess is preselected), and the file is ingested under the
study's id name. A file with none of its keys cannot be sent."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tenants.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

INGEST_TIMEOUT_MS = 60_000
DEMOGRAPHICS = "participant_id,age\n" + "".join(f"P{i:02d},{20 + i}\n" for i in range(1, 21))
MOOD = "participant;phq9_total\n" + "".join(f"P{i:02d};{i % 20}\n" for i in range(1, 21))
NO_KEYS = "score,notes\n1,a\n2,b\n"


def _seed(committed_db, tenant, tmp_path: Path) -> str:
    from django_tenants.utils import tenant_context

    from datasets.services import ingest_file_sync, study_create

    slug = f"keys-{uuid.uuid4().hex[:6]}"
    with committed_db(), tenant_context(tenant.obj()):
        study = study_create(tenant=tenant.obj(), actor=None, slug=slug, name=slug.title(), id_column="participant_id")
        path = tmp_path / "demographics.csv"
        path.write_text(DEMOGRAPHICS, encoding="utf-8")
        assert ingest_file_sync(study=study, path=path, dataset_name="demographics", kind="demographics").version
    return slug


def test_measure_upload_maps_its_id_column(
    page, site, e2e_tenant, make_user, committed_db, screenshot, celery_worker, tmp_path: Path
) -> None:
    slug = _seed(committed_db, e2e_tenant, tmp_path)
    steward = make_user((e2e_tenant, Role.STEWARD))
    site.sign_in(page, steward.email, steward.password)
    page.goto(site.url(f"/studies/{slug}/upload/"))
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" and r.url.endswith("/upload/") else None)

    mood, junk = tmp_path / "mood.csv", tmp_path / "notes.csv"
    mood.write_text(MOOD, encoding="utf-8")
    junk.write_text(NO_KEYS, encoding="utf-8")
    page.locator("[data-uploader-input]").set_input_files([str(mood), str(junk)])
    mood_row = page.locator("tr.upload-row", has_text="mood.csv")
    junk_row = page.locator("tr.upload-row", has_text="notes.csv")

    # Checked before sending: the missing id column is named, with the likely column preselected.
    expect(mood_row.locator("[data-header-missing]")).to_contain_text("This file has no participant_id column.")
    expect(mood_row.get_by_label("Which column holds participant_id?")).to_have_value("participant")
    expect(junk_row.locator("[data-header-missing]")).to_be_visible()
    expect(junk_row.get_by_label("Which column holds participant_id?")).to_have_value("")
    expect(page.get_by_role("button", name="Upload", exact=True)).to_be_enabled()  # the mood file is ready
    junk_row.get_by_role("button", name=re.compile("Remove notes.csv")).click()
    screenshot(page, "1-mapped")
    assert sent == []

    page.get_by_role("button", name="Upload", exact=True).click()
    expect(mood_row.locator("[data-status=succeeded]")).to_be_visible(timeout=INGEST_TIMEOUT_MS)
    assert len(sent) == 1

    # The dataset has the study's id column and the file's measure.
    page.goto(site.url(f"/studies/{slug}/datasets/mood/"))
    expect(page.locator("body")).to_contain_text("phq9_total")
    expect(page.locator("body")).to_contain_text("participant_id")
    screenshot(page, "2-dataset")


def test_a_file_with_its_keys_is_checked_and_ready(page, site, e2e_tenant, make_user, committed_db, tmp_path) -> None:
    slug = _seed(committed_db, e2e_tenant, tmp_path)
    steward = make_user((e2e_tenant, Role.STEWARD))
    site.sign_in(page, steward.email, steward.password)
    page.goto(site.url(f"/studies/{slug}/upload/"))
    good = tmp_path / "sleep.csv"
    good.write_text("participant_id,hours\nP01,7\n", encoding="utf-8")
    page.locator("[data-uploader-input]").set_input_files(str(good))
    row = page.locator("tr.upload-row", has_text="sleep.csv")
    expect(row.locator("[data-header-ok]")).to_have_text("header checked")
    junk = tmp_path / "only.csv"
    junk.write_text(NO_KEYS, encoding="utf-8")
    page.locator("[data-uploader-input]").set_input_files(str(junk))
    only = page.locator("tr.upload-row", has_text="only.csv")
    expect(only.locator("[data-header-missing]")).to_be_visible()
    row.get_by_role("button", name=re.compile("Remove sleep.csv")).click()
    expect(page.get_by_role("button", name="Upload", exact=True)).to_be_disabled()  # nothing can be sent
