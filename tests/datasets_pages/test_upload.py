"""The upload page: rows per file, name clashes, one POST per file, live ingest status, roles and limits."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.ingest_runner import ingest_job_execute
from datasets.models import Dataset, IngestJob
from tests.datasets_pages.conftest import COGNITIVE, COGNITIVE_V2

pytestmark = pytest.mark.django_db
XHR = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}


def _csv(name: str, text: str | bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text, content_type="text/csv")


def _post(client, study, filename: str, text: str | bytes, **fields: str):
    data = {"file": _csv(filename, text), "name": "", "kind": "measure", **fields}
    return client.post(f"/studies/{study.slug}/upload/", data, **XHR)


def _run(tenant, response) -> IngestJob:
    job_id = int(re.search(r'data-ingest="(\d+)"', response.content.decode()).group(1))
    with tenant_context(tenant):
        ingest_job_execute(job_id)
        job = IngestJob.objects.select_related("version__dataset").get(pk=job_id)
    connection.set_schema_to_public()
    return job


def test_upload_page_lists_existing_dataset_names_for_the_script(browser, make_study) -> None:
    study = make_study(measures={"cognitive": COGNITIVE})
    page = browser("steward").get(f"/studies/{study.slug}/upload/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Drop CSV files here" in html and "multiple data-uploader-input" in html
    existing = json.loads(
        re.search(r'<script id="existing-datasets" type="application/json">(.*?)</script>', html).group(1)
    )
    assert existing == {"demographics": "demographics", "cognitive": "measure"}
    assert f'data-upload-url="/studies/{study.slug}/upload/"' in html


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_only_stewards_upload_and_others_are_told_why(browser, make_study, tenant_a, role) -> None:
    study = make_study()
    client = browser(role)
    page = client.get(f"/studies/{study.slug}/upload/")
    assert page.status_code == 403
    assert f"Your role ({role}) may not upload data; it needs steward or above.".encode() in page.content
    post = _post(client, study, "cognitive.csv", COGNITIVE, name="cognitive")
    assert post.status_code == 403
    assert b"may not upload data" in post.content
    with tenant_context(tenant_a):
        assert not IngestJob.objects.filter(study=study, kind="measure").exists()
    # The catalog shows no upload button to them, and says why.
    catalog = client.get(f"/studies/{study.slug}/").content.decode()
    assert "Uploading needs the steward role." in catalog
    assert f'href="/studies/{study.slug}/upload/"' in catalog  # the tab is there; the page explains


def test_a_row_for_a_new_file_suggests_the_name_and_flags_existing_ones(browser, make_study) -> None:
    study = make_study(measures={"cognitive": COGNITIVE})
    client = browser("steward")
    fresh = client.get(f"/studies/{study.slug}/upload/row/", {"filename": "Flanker Task (v2).CSV", "row": "3"})
    html = fresh.content.decode()
    assert fresh.status_code == 200
    assert 'data-row="3"' in html
    assert re.search(r'data-field="name"', html)
    name = re.search(r'id="name-3" name="name-3" value="([^"]+)"', html).group(1)
    assert re.fullmatch(r"[a-z][a-z0-9_]*", name) and name.startswith("flanker")
    assert '<option value="measure" selected>' in html
    assert "New dataset" in html
    taken = client.get(f"/studies/{study.slug}/upload/row/", {"filename": "cognitive.csv", "row": "4"}).content.decode()
    assert "Name taken" in taken
    assert 'name="on_conflict-4" value="version" data-field="on_conflict" checked' in taken
    assert 'value="cognitive_2"' in taken  # the suggested other name
    assert 'value="skip"' in taken
    check = client.get(f"/studies/{study.slug}/upload/check/", {"row": "4", "name-4": "demographics"})
    assert "existing demographics dataset" in check.content.decode()
    assert (
        "New dataset"
        in client.get(f"/studies/{study.slug}/upload/check/", {"row": "4", "name-4": "mood"}).content.decode()
    )


def test_upload_queues_an_ingest_whose_status_is_polled_until_it_is_done(browser, make_study, tenant_a) -> None:
    study = make_study()
    client = browser("steward")
    response = _post(client, study, "Cognitive.CSV", COGNITIVE, name="cognitive", note="first delivery")
    assert response.status_code == 202
    html = response.content.decode()
    job_id = re.search(r'data-ingest="(\d+)"', html).group(1)
    assert f'hx-get="/studies/{study.slug}/ingests/{job_id}/?poll=1"' in html and 'hx-trigger="load delay:1s"' in html
    assert "Queued" in html
    # While queued, the fragment keeps polling: every second, then every five seconds after two minutes.
    polled = client.get(f"/studies/{study.slug}/ingests/{job_id}/?poll=7", HTTP_HX_REQUEST="true").content.decode()
    assert "?poll=8" in polled and 'hx-trigger="load delay:1s"' in polled
    slow = client.get(f"/studies/{study.slug}/ingests/{job_id}/?poll=500", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="load delay:5s"' in slow
    job = _run(tenant_a, response)
    assert job.status == "succeeded", job.error_message
    done = client.get(f"/studies/{study.slug}/ingests/{job_id}/", HTTP_HX_REQUEST="true").content.decode()
    assert "hx-get" not in done  # polling stops
    assert "version 1" in done and "4 rows" in done and "3 participants" in done
    with tenant_context(tenant_a):
        version = Dataset.objects.get(study=study, name="cognitive").latest_version()
        assert (version.original_filename, version.note) == ("Cognitive.CSV", "first delivery")


def test_same_name_adds_a_version_and_other_choices_are_honoured(browser, make_study, tenant_a) -> None:
    study = make_study(measures={"cognitive": COGNITIVE})
    client = browser("steward")
    again = _post(client, study, "cognitive.csv", COGNITIVE_V2, name="cognitive", on_conflict="version")
    assert again.status_code == 202
    assert _run(tenant_a, again).version.number == 2
    clash = _post(
        client, study, "cognitive.csv", COGNITIVE_V2, name="cognitive", on_conflict="new", new_name="cognitive"
    )
    assert clash.status_code == 409 and b"already exists; choose another name" in clash.content
    other = _post(
        client, study, "cognitive.csv", COGNITIVE_V2, name="cognitive", on_conflict="new", new_name="cognitive_b"
    )
    assert other.status_code == 202
    assert _run(tenant_a, other).version.dataset.name == "cognitive_b"
    skipped = _post(client, study, "cognitive.csv", COGNITIVE_V2, name="cognitive", on_conflict="skip")
    assert skipped.status_code == 200 and b"Skipped" in skipped.content
    with tenant_context(tenant_a):
        assert Dataset.objects.get(study=study, name="cognitive").versions.count() == 2
        assert IngestJob.objects.filter(study=study, kind="measure").count() == 3


def test_a_new_version_of_an_existing_dataset_keeps_its_kind(browser, make_study, tenant_a) -> None:
    study = make_study()
    text = "participant_id,session,age,sex,site,handedness\nP001,BAS1,25.5,F,Discovery,right\n"
    response = _post(browser("owner"), study, "demo.csv", text, name="demographics", kind="measure")
    assert response.status_code == 202
    with tenant_context(tenant_a):
        assert IngestJob.objects.filter(study=study).latest("created_at").kind == "demographics"


@pytest.mark.parametrize(
    ("fields", "filename", "content", "status", "message"),
    [
        ({"name": "x"}, None, None, 422, "No file was received"),
        ({"name": "x"}, "data.xlsx", "a,b\n", 422, "Only .csv files can be uploaded."),
        ({"name": "x"}, "data.csv", "", 422, "The submitted file is empty."),
        ({"name": ""}, "data.csv", "a,b\n1,2\n", 422, "Give the dataset a name."),
        ({"name": "Bad Name"}, "data.csv", "a,b\n1,2\n", 422, "Invalid dataset name"),
        ({"name": "x", "kind": "table"}, "data.csv", "a,b\n1,2\n", 422, "Select a valid choice"),
        ({"name": "x", "encoding": "klingon"}, "data.csv", "a,b\n1,2\n", 422, "Unknown encoding"),
        ({"name": "x", "encoding": "zlib"}, "data.csv", "a,b\n1,2\n", 422, "is not a text encoding. Use a text"),
        ({"name": "x", "encoding": "rot13"}, "data.csv", "a,b\n1,2\n", 422, "utf-8, latin-1, cp1252 or utf-16"),
        (
            {"name": "x", "on_conflict": "new", "new_name": ""},
            "data.csv",
            "a,b\n1,2\n",
            422,
            "Give the new dataset a name.",
        ),
    ],
)
def test_bad_uploads_are_explained(browser, make_study, tenant_a, fields, filename, content, status, message) -> None:
    study = make_study()
    data = {"kind": "measure", **fields}
    if filename is not None:
        data["file"] = _csv(filename, content)
    response = browser("steward").post(f"/studies/{study.slug}/upload/", data, **XHR)
    assert response.status_code == status
    assert message in response.content.decode()
    assert 'role="alert"' in response.content.decode()
    with tenant_context(tenant_a):
        assert not IngestJob.objects.filter(study=study, kind="measure").exists()


def test_upload_over_the_workspace_limit_answers_413(browser, make_study, tenant_a) -> None:
    study = make_study()
    tenant_a.settings = {**(tenant_a.settings or {}), "upload_max_bytes": 100}
    tenant_a.save(update_fields=["settings"])
    response = _post(browser("steward"), study, "cognitive.csv", COGNITIVE * 10, name="cognitive")
    assert response.status_code == 413
    assert "larger than this workspace&#x27;s upload limit (100 bytes)" in response.content.decode()
    with tenant_context(tenant_a):
        assert not IngestJob.objects.filter(study=study, kind="measure").exists()


def test_failed_ingest_shows_the_error_and_its_code(browser, make_study, tenant_a) -> None:
    study = make_study()
    client = browser("steward")
    response = _post(client, study, "noid.csv", "subject,score\nP001,3\n", name="noid")
    job = _run(tenant_a, response)
    assert job.status == "failed"
    html = client.get(f"/studies/{study.slug}/ingests/{job.pk}/").content.decode()
    assert "Failed" in html and job.error_code in html
    assert "Nothing was registered" in html


def test_warnings_are_shown_with_the_result(browser, make_study, tenant_a) -> None:
    study = make_study()
    client = browser("steward")
    text = COGNITIVE + "P999,BAS1,120,60.0,unknown person\n"
    job = _run(tenant_a, _post(client, study, "cognitive.csv", text, name="cognitive"))
    assert job.status == "succeeded" and job.warnings, job.error_message
    html = client.get(f"/studies/{study.slug}/ingests/{job.pk}/").content.decode()
    assert "Warning" in html
    assert job.warnings[0]["message"].replace("'", "&#x27;") in html


def test_ingest_status_of_another_study_is_404(browser, make_study, tenant_a) -> None:
    first, second = make_study(), make_study()
    with tenant_context(tenant_a):
        job = IngestJob.objects.filter(study=first).first()
    response = browser("viewer").get(f"/studies/{second.slug}/ingests/{job.pk}/")
    assert response.status_code == 404
    assert browser("viewer").get(f"/studies/{first.slug}/ingests/{job.pk}/").status_code == 200


def test_upload_page_of_a_study_without_keys_is_the_wizard(browser, make_study) -> None:
    study = make_study(keys={})
    response = browser("steward").get(f"/studies/{study.slug}/upload/")
    assert response.status_code == 302 and response["Location"] == f"/studies/{study.slug}/setup/"
