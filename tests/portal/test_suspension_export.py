"""Suspend/resume (403 workspace_suspended, a clear page, nothing lost), the export archive, the unknown-host page."""

from __future__ import annotations

import hashlib
import json
import zipfile
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from tenants.roles import Role


@pytest.fixture(autouse=True)
def _own_storage_root(isolated_media: None) -> None:
    """Files of this test only."""


def test_suspend_and_resume_keep_everything(steward_api, study, page_client, tenant_a) -> None:
    browser = page_client(tenant_a, Role.STEWARD)
    before = steward_api.get("/api/v1/studies/memory/datasets").json()
    call_command("tenant_suspend", "lab-a", "--reason", "unpaid invoice", stdout=StringIO())
    try:
        api_answer = steward_api.get("/api/v1/studies")
        assert api_answer.status_code == 403
        assert api_answer.json()["error"]["code"] == "workspace_suspended"
        page = browser.get("/studies/")
        assert page.status_code == 403
        text = page.content.decode()
        assert "This workspace is suspended" in text and "unpaid invoice" in text
        assert "http://platform.test/" in text
        assert Client(HTTP_HOST="lab-a.test").get("/accounts/login/").status_code == 403
    finally:
        call_command("tenant_resume", "lab-a", stdout=StringIO())
    assert steward_api.get("/api/v1/studies/memory/datasets").json() == before
    assert browser.get("/studies/").status_code == 200


def test_export_archive_holds_records_files_and_audit_chain(steward_api, study, tenant_a, tmp_path) -> None:
    out = tmp_path / "lab-a.zip"
    call_command("tenant_export", "lab-a", str(out), stdout=StringIO())
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = set(archive.namelist())
        assert manifest["workspace"] == "lab-a"
        for entry in manifest["files"]:
            assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
        studies = json.loads(archive.read("records/datasets.study.json"))
        assert "memory" in [row["fields"]["slug"] for row in studies]
        audit = json.loads(archive.read("records/audit.auditevent.json"))
        assert any(row["fields"]["action"] == "dataset_version.created" for row in audit)
        assert all(row["fields"]["hash"] for row in audit)
        assert {"records/access.grant.json", "records/datasets.datasetversion.json", "workspace.json"} <= names
        originals = [n for n in names if n.startswith("files/memory/cognitive/v1/original-")]
        assert originals and "files/memory/cognitive/v1/data.parquet" in names
        workspace = json.loads(archive.read("workspace.json"))
        assert workspace["slug"] == "lab-a" and any(m["role"] == "steward" for m in workspace["members"])
        assert "digest" not in archive.read("workspace.json").decode()
    with pytest.raises(CommandError):
        call_command("tenant_export", "no-such-lab", str(tmp_path / "x.zip"), stdout=StringIO())
    with pytest.raises(CommandError, match="directory"):
        call_command("tenant_export", "lab-a", str(tmp_path), stdout=StringIO())


def test_an_unknown_host_links_to_the_platform(db) -> None:
    page = Client(HTTP_HOST="no-such-lab.test").get("/")
    assert page.status_code == 404
    assert 'href="http://platform.test/"' in page.content.decode()
