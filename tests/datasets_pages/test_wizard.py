"""The study setup wizard: demographics -> key columns (suggested, previewed, confirmed) -> ingest -> measures."""

from __future__ import annotations

import re

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.ingest_runner import ingest_job_execute
from datasets.models import Dataset, DatasetKind, IngestJob, Study
from tests.datasets_pages.conftest import COGNITIVE, DEMOGRAPHICS

pytestmark = pytest.mark.django_db

WIDE_DEMOGRAPHICS = "subject_id,visit,age_years,gender,study_site,score\n" + "".join(
    f"S{i:03d},V{1 + i % 2},{20 + i},{'F' if i % 2 else 'M'},site{i % 3},{i}\n" for i in range(1, 16)
)


def _csv(name: str, text: str | bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text, content_type="text/csv")


def _selected(html: str, field: str) -> str:
    """The value preselected in the <select name=field>."""
    select = re.search(rf'<select name="{field}".*?</select>', html, re.S)
    assert select, field
    chosen = re.search(r'<option value="([^"]*)" selected>', select.group(0))
    return chosen.group(1) if chosen else ""


def _staged_names(tenant, study: Study) -> list[str]:
    with tenant_context(tenant):
        from datasets.storage import tenant_prefix

        folder = f"{tenant_prefix()}setup/{study.pk}/"
    if not default_storage.exists(folder):
        return []
    return default_storage.listdir(folder)[1]


def test_full_wizard_suggests_keys_previews_rows_and_queues_the_ingest(browser, make_study, tenant_a) -> None:
    client = browser("steward")
    study = make_study(keys={})
    setup = f"/studies/{study.slug}/setup/"
    # The catalog of a study without keys shows the wizard instead.
    assert client.get(f"/studies/{study.slug}/")["Location"] == setup
    page = client.get(setup).content.decode()
    assert 'aria-current="step"' in page and "Upload the demographics table" in page

    upload = client.post(
        f"{setup}demographics/", {"file": _csv("Baseline Demographics.CSV", "\ufeff" + WIDE_DEMOGRAPHICS)}
    )
    assert upload.status_code == 302 and upload["Location"] == setup
    assert len(_staged_names(tenant_a, study)) == 1
    keys_page = client.get(setup).content.decode()
    assert "Confirm the key columns" in keys_page
    # The suggestions are preselected ...
    assert _selected(keys_page, "id_column") == "subject_id"
    assert _selected(keys_page, "session_column") == "visit"
    assert _selected(keys_page, "age_column") == "age_years"
    assert re.search(r'name="dataset_name"[^>]*value="baseline_demographics"', keys_page)
    # ... and the preview shows the header and exactly the first 10 rows (values as written).
    assert '<th scope="col" data-col="subject_id">' in keys_page  # no BOM in the first column name
    assert "<td>S001</td>" in keys_page and "<td>S010</td>" in keys_page and "S011" not in keys_page
    assert "the first 10 rows" in keys_page and "(the file has more)" in keys_page

    confirm = client.post(
        f"{setup}keys/",
        {
            "id_column": "subject_id",
            "session_column": "visit",
            "age_column": "age_years",
            "sex_column": "gender",
            "site_column": "",
            "dataset_name": "demographics",
        },
    )
    assert confirm.status_code == 302 and confirm["Location"] == setup
    with tenant_context(tenant_a):
        study.refresh_from_db()
        assert (study.id_column, study.session_column, study.age_column, study.sex_column, study.site_column) == (
            "subject_id",
            "visit",
            "age_years",
            "gender",
            "",
        )
        job = IngestJob.objects.get(study=study)
        assert (job.kind, job.dataset_name, job.original_filename, job.status) == (
            DatasetKind.DEMOGRAPHICS,
            "demographics",
            "Baseline Demographics.CSV",
            "queued",
        )
    assert _staged_names(tenant_a, study) == []  # the wizard's own staged copy is gone
    importing = client.get(setup).content.decode()
    assert "Importing the demographics table" in importing
    assert f'hx-get="/studies/{study.slug}/ingests/{job.pk}/?poll=1&amp;wizard=1"' in importing
    assert 'hx-trigger="load delay:1s"' in importing
    # The catalog still shows the wizard while the import runs.
    assert client.get(f"/studies/{study.slug}/")["Location"] == setup

    with tenant_context(tenant_a):
        finished = ingest_job_execute(job.pk)
    connection.set_schema_to_public()
    assert finished.status == "succeeded", finished.error_message
    poll = client.get(f"/studies/{study.slug}/ingests/{job.pk}/?wizard=1", HTTP_HX_REQUEST="true")
    assert poll["HX-Redirect"] == setup
    measures = client.get(setup).content.decode()
    assert "Upload measure tables" in measures
    assert "15 rows" in measures and "15 participants" in measures
    assert "data-uploader" in measures
    # With only the demographics table the catalog opens, with a pointer to the measures step.
    catalog = client.get(f"/studies/{study.slug}/")
    assert catalog.status_code == 200 and b"Only the demographics table so far" in catalog.content


def test_uploading_demographics_needs_a_file(browser, make_study) -> None:
    study = make_study(keys={})
    response = browser("steward").post(f"/studies/{study.slug}/setup/demographics/", {"encoding": ""})
    assert response.status_code == 422
    assert b"Choose the demographics CSV file to upload." in response.content


@pytest.mark.parametrize(
    ("filename", "content", "encoding", "message"),
    [
        ("demo.txt", "id,age\n1,2\n", "", "Upload a .csv file."),
        ("demo.csv", "", "", "The submitted file is empty."),
        ("demo.csv", "caf\u00e9_id,age\n1,2\n".encode("latin-1"), "", "is not valid utf-8 text"),
        ("demo.csv", "id,age\n1,2\n", "klingon", "Unknown encoding"),
        ("demo.csv", "id,age\n1,2\n", "rot13", "is not a text encoding. Use a text encoding such as utf-8"),
        ("demo.csv", "id,age\n1,2\n", "hex", "is not a text encoding"),
        ("demo.csv", "id,age\n1,2\n", "zlib", "is not a text encoding"),
        ("demo.csv", b"\x00\x01\x02PK binary", "", "contains NUL bytes"),
    ],
)
def test_bad_demographics_files_are_reported_and_nothing_is_staged(
    browser, make_study, tenant_a, filename, content, encoding, message
) -> None:
    study = make_study(keys={})
    response = browser("steward").post(
        f"/studies/{study.slug}/setup/demographics/", {"file": _csv(filename, content), "encoding": encoding}
    )
    assert response.status_code == 422
    assert message in response.content.decode()
    assert _staged_names(tenant_a, study) == []


def test_latin1_demographics_with_declared_encoding(browser, make_study, tenant_a) -> None:
    study = make_study(keys={})
    client = browser("steward")
    data = "participant_id,ville\nP1,Montr\u00e9al\n".encode("latin-1")
    client.post(f"/studies/{study.slug}/setup/demographics/", {"file": _csv("d.csv", data), "encoding": "latin-1"})
    page = client.get(f"/studies/{study.slug}/setup/").content.decode()
    assert "<td>Montréal</td>" in page
    client.post(f"/studies/{study.slug}/setup/keys/", {"id_column": "participant_id", "dataset_name": "demographics"})
    with tenant_context(tenant_a):
        assert IngestJob.objects.get(study=study).encoding == "latin-1"


def test_key_choices_are_checked(browser, make_study, tenant_a) -> None:
    study = make_study(keys={})
    client = browser("steward")
    client.post(f"/studies/{study.slug}/setup/demographics/", {"file": _csv("d.csv", DEMOGRAPHICS)})
    url = f"/studies/{study.slug}/setup/keys/"
    missing_id = client.post(url, {"id_column": "", "dataset_name": "demographics"})
    assert missing_id.status_code == 422 and b"This field is required" in missing_id.content
    twice = client.post(url, {"id_column": "participant_id", "session_column": "participant_id", "dataset_name": "d"})
    assert twice.status_code == 422
    assert "&#x27;participant_id&#x27; is already the participant id column." in twice.content.decode()
    not_in_file = client.post(url, {"id_column": "ursi", "dataset_name": "demographics"})
    assert not_in_file.status_code == 422 and b"Select a valid choice" in not_in_file.content
    bad_name = client.post(url, {"id_column": "participant_id", "dataset_name": "Demo Graphics"})
    assert bad_name.status_code == 422 and b"lower-case letters, digits or underscores" in bad_name.content
    with tenant_context(tenant_a):
        study.refresh_from_db()
        assert not study.keys_confirmed and not IngestJob.objects.filter(study=study).exists()
    # The preview and the staged file survive the errors; the user's choices are kept.
    assert "Confirm the key columns" in not_in_file.content.decode()
    assert len(_staged_names(tenant_a, study)) == 1


def test_choose_another_file_discards_the_staged_one(browser, make_study, tenant_a) -> None:
    study = make_study(keys={})
    client = browser("steward")
    client.post(f"/studies/{study.slug}/setup/demographics/", {"file": _csv("d.csv", DEMOGRAPHICS)})
    assert len(_staged_names(tenant_a, study)) == 1
    response = client.post(f"/studies/{study.slug}/setup/discard/")
    assert response.status_code == 302
    assert _staged_names(tenant_a, study) == []
    assert b"Upload the demographics table" in client.get(f"/studies/{study.slug}/setup/").content


def test_failed_demographics_import_returns_to_the_upload_step_with_the_error(browser, make_study, tenant_a) -> None:
    study = make_study(keys={})
    client = browser("steward")
    # Duplicate participant-session keys make the demographics ingest fail.
    bad = "participant_id,session,age\nP1,BAS1,20\nP1,BAS1,21\n"
    client.post(f"/studies/{study.slug}/setup/demographics/", {"file": _csv("d.csv", bad)})
    client.post(
        f"/studies/{study.slug}/setup/keys/",
        {"id_column": "participant_id", "session_column": "session", "dataset_name": "demographics"},
    )
    with tenant_context(tenant_a):
        job = ingest_job_execute(IngestJob.objects.get(study=study).pk)
    connection.set_schema_to_public()
    assert job.status == "failed"
    page = client.get(f"/studies/{study.slug}/setup/").content.decode()
    assert "Upload the demographics table" in page
    assert "The last demographics upload (d.csv) failed" in page and job.error_code in page
    # A new upload preselects the study's current keys.
    client.post(f"/studies/{study.slug}/setup/demographics/", {"file": _csv("d2.csv", DEMOGRAPHICS)})
    keys_page = client.get(f"/studies/{study.slug}/setup/").content.decode()
    assert _selected(keys_page, "id_column") == "participant_id"
    assert _selected(keys_page, "session_column") == "session"


def test_viewer_sees_that_the_study_is_being_set_up_and_cannot_upload(browser, make_study, tenant_a) -> None:
    study = make_study(keys={})
    client = browser("viewer")
    page = client.get(f"/studies/{study.slug}/setup/")
    assert page.status_code == 200
    assert b"This study is being set up" in page.content
    assert b'enctype="multipart/form-data"' not in page.content
    post = client.post(f"/studies/{study.slug}/setup/demographics/", {"file": _csv("d.csv", DEMOGRAPHICS)})
    assert post.status_code == 403
    assert b"Your role (viewer) may not upload data; it needs steward or above." in post.content
    keys = client.post(f"/studies/{study.slug}/setup/keys/", {"id_column": "participant_id"})
    assert keys.status_code == 403
    with tenant_context(tenant_a):
        assert not Study.objects.get(pk=study.pk).keys_confirmed


def test_too_large_demographics_upload_answers_413_with_a_clear_message(browser, make_study, tenant_a) -> None:
    study = make_study(keys={})
    tenant_a.settings = {**(tenant_a.settings or {}), "upload_max_bytes": 200}
    tenant_a.save(update_fields=["settings"])
    response = browser("steward").post(
        f"/studies/{study.slug}/setup/demographics/", {"file": _csv("d.csv", DEMOGRAPHICS * 5)}
    )
    assert response.status_code == 413
    assert "larger than this workspace&#x27;s upload limit (200 bytes)" in response.content.decode()
    assert _staged_names(tenant_a, study) == []


def test_finished_study_setup_goes_to_the_catalog(browser, make_study, tenant_a) -> None:
    study = make_study(measures={"cognitive": COGNITIVE})
    client = browser("steward")
    assert client.get(f"/studies/{study.slug}/setup/")["Location"] == f"/studies/{study.slug}/"
    # ... unless the user explicitly asks for the measures step.
    page = client.get(f"/studies/{study.slug}/setup/?step=measures")
    assert page.status_code == 200 and b"Upload measure tables" in page.content
    with tenant_context(tenant_a):
        assert Dataset.objects.filter(study=study).count() == 2
