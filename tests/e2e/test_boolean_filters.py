"""A yes/no column in the builder: the choices are shown in words, and a query file that writes the value as the
source file did ("yes") imports and counts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tenants.roles import Role

pytestmark = [pytest.mark.e2e]

DEMOGRAPHICS = "participant_id,age\n" + "".join(f"P{i:02d},{20 + i}\n" for i in range(1, 31))
HABITS = "participant_id,smoker\n" + "".join(f"P{i:02d},{'Yes' if i <= 12 else 'No'}\n" for i in range(1, 31))


def _seed(committed_db, tenant, tmp_path: Path) -> str:
    from django_tenants.utils import tenant_context

    from datasets.services import ingest_file_sync, study_create

    slug = f"habits-{uuid.uuid4().hex[:6]}"
    with committed_db(), tenant_context(tenant.obj()):
        study = study_create(tenant=tenant.obj(), actor=None, slug=slug, name=slug.title(), id_column="participant_id")
        for name, text in (("demographics", DEMOGRAPHICS), ("habits", HABITS)):
            path = tmp_path / f"{name}.csv"
            path.write_text(text, encoding="utf-8")
            kind = "demographics" if name == "demographics" else "measure"
            assert ingest_file_sync(study=study, path=path, dataset_name=name, kind=kind).version
    return slug


def test_yes_no_column_in_the_builder_and_an_import(
    page, site, e2e_tenant, make_user, committed_db, screenshot, tmp_path: Path
) -> None:
    slug = _seed(committed_db, e2e_tenant, tmp_path)
    analyst = make_user((e2e_tenant, Role.ANALYST))
    site.sign_in(page, analyst.email, analyst.password)
    page.goto(site.url(f"/queries/{slug}/"))
    count = page.locator("#live-count [data-participants]")
    expect(count).to_have_text("30")

    page.get_by_role("button", name="+ Add filter").click()
    page.get_by_label("Table", exact=True).select_option("habits")
    page.get_by_label("Column", exact=True).select_option("smoker")
    value = page.locator("#f-0-value")
    expect(value.locator("option")).to_have_text(["Choose…", "yes (true)", "no (false)"])
    value.select_option(label="yes (true)")
    expect(count).to_have_text("12")
    screenshot(page, "1-builder")

    # A JSON query file written by hand, with the value as the data file spells it.
    spec = {"filters": [{"dataset": "habits", "column": "smoker", "op": "eq", "value": "no"}]}
    path = tmp_path / "query.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    page.get_by_label("Import a .toml or .json file").set_input_files(str(path))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("[data-import-errors]")).to_have_count(0)
    expect(page.locator("#f-0-value")).to_have_value("false")
    expect(count).to_have_text("18")
    screenshot(page, "2-imported")
