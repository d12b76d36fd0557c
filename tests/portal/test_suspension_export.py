"""Suspend/resume (403 workspace_suspended, a clear page, nothing lost), the export archive, the unknown-host page."""

from __future__ import annotations

import hashlib
import json
import zipfile
from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from analysis.models import ProfileJob
from analysis.services import profile_job_execute
from datasets.ingest_runner import ingest_job_execute
from datasets.models import Dataset
from queries.models import QueryRun
from queries.run_worker import _stop_asked
from tenants.roles import Role
from tests.csv_data import MEMORY_FLANKER
from tests.plugins.datasets import csv_upload


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


def test_work_queued_before_a_suspension_is_not_started(steward_api, study, tenant_a, execute) -> None:
    """A workspace suspended (e.g. for abuse) stops taking the workers' time from the others: the runs, uploads
    and profiles it had queued fail with ``workspace_suspended`` when a worker takes them, nothing is read or kept;
    a run of it still running is told to stop. After it is resumed, its work runs again. Before, the queue was
    worked off."""
    done = steward_api.post("/api/v1/studies/memory/queries", {"shape": "long"}).json()["id"]
    assert execute(done) == "succeeded"
    profile = steward_api.post(f"/api/v1/queries/{done}/profiles")
    assert profile.status_code in (200, 201, 202), profile.content
    run = steward_api.post("/api/v1/studies/memory/queries", {"shape": "wide"})  # another spec: not a reuse
    upload = steward_api.post(
        "/api/v1/studies/memory/datasets",
        {"file": csv_upload(MEMORY_FLANKER, "extra.csv"), "name": "extra", "kind": "measure"},
        multipart=True,
    )
    assert run.status_code == 202 and upload.status_code == 202, (run.content, upload.content)
    call_command("tenant_suspend", "lab-a", "--reason", "abuse", stdout=StringIO())
    try:
        assert execute(run.json()["id"]) == "failed"
        with tenant_context(tenant_a):
            failed = QueryRun.objects.get(pk=run.json()["id"])
            assert failed.error_code == "workspace_suspended" and failed.result_file == ""
            assert "suspended" in failed.error_message
            job = ingest_job_execute(upload.json()["ingest"]["id"])
            assert job.status == "failed" and job.error_code == "workspace_suspended"
            assert not Dataset.objects.filter(study__slug="memory", name="extra").exists()
            assert not default_storage.exists(job.staged_file)  # the uploaded bytes are not kept either
            assert _stop_asked(failed, tenant_a)  # what a running run's guard asks
            assert profile_job_execute(profile.json()["id"], tenant=tenant_a) == "failed"
            assert ProfileJob.objects.get(pk=profile.json()["id"]).error_code == "workspace_suspended"
        connection.set_schema_to_public()
    finally:
        call_command("tenant_resume", "lab-a", stdout=StringIO())
    with tenant_context(tenant_a):
        assert not _stop_asked(failed, tenant_a)
    connection.set_schema_to_public()
    again = steward_api.post("/api/v1/studies/memory/queries", {"shape": "wide"})
    assert again.json()["id"] != run.json()["id"] and execute(again.json()["id"]) == "succeeded"
