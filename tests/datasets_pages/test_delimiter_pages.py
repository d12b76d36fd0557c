"""Separators on the pages: the wizard's preview splits a semicolon file into its columns, the upload page sends
the chosen separator, and the version page says which one was used."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.ingest_runner import ingest_job_execute
from datasets.models import IngestJob
from studies.preview import csv_preview

pytestmark = pytest.mark.django_db
XHR = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}

SEMICOLON_DEMOGRAPHICS = "subject_id;visit;age_years;gender;weight_kg\n" + "".join(
    f"S{i:03d};V{1 + i % 2};{20 + i};{'F' if i % 2 else 'M'};{60 + i},5\n" for i in range(1, 16)
)


def _csv(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_preview_detects_the_separator() -> None:
    preview = csv_preview(io.BytesIO(SEMICOLON_DEMOGRAPHICS.encode()))
    assert preview.header == ["subject_id", "visit", "age_years", "gender", "weight_kg"]
    assert preview.rows[0] == ["S001", "V2", "21", "F", "61,5"]
    assert (preview.delimiter, preview.delimiter_detected) == (";", True)
    tab = csv_preview(io.BytesIO(b"a\tb\n1\t2\n"))
    assert tab.header == ["a", "b"] and tab.delimiter == "\t"
    forced = csv_preview(io.BytesIO(b"a;b\n1;2\n"), delimiter=",")
    assert forced.header == ["a;b"] and not forced.delimiter_detected


def test_wizard_previews_a_semicolon_file_in_columns_and_imports_it_that_way(browser, make_study, tenant_a) -> None:
    client = browser("steward")
    study = make_study(keys={})
    setup = f"/studies/{study.slug}/setup/"
    form = client.get(setup).content.decode()
    assert "File encoding and separator" in form and '<option value="auto" selected>Detect automatically' in form

    upload = client.post(f"{setup}demographics/", {"file": _csv("demo.csv", SEMICOLON_DEMOGRAPHICS)})
    assert upload.status_code == 302
    page = client.get(setup).content.decode()
    for column in ("subject_id", "visit", "age_years", "gender", "weight_kg"):
        assert f'<th scope="col" data-col="{column}">' in page
    assert "<td>S001</td><td>V2</td><td>21</td><td>F</td><td>61,5</td>" in page
    assert re.search(r"data-preview-separator>Values separated by <strong>semicolon</strong> \(detected\)", page)
    assert "5 columns" in page
    assert re.search(r'<option value="subject_id" selected>', page)  # key suggestions come from the split header

    confirm = client.post(
        f"{setup}keys/",
        {"id_column": "subject_id", "session_column": "visit", "age_column": "age_years", "dataset_name": "demo"},
    )
    assert confirm.status_code == 302
    with tenant_context(tenant_a):
        job = IngestJob.objects.get(study=study)
        assert job.delimiter == ";"  # the separator of the preview the keys were chosen from
        finished = ingest_job_execute(job.pk)
        assert finished.status == "succeeded", finished.error_message
        assert finished.delimiter_used == ";"
        assert finished.version is not None
        assert finished.version.column_names() == ["subject_id", "visit", "age_years", "gender", "weight_kg"]
        assert finished.version.row_count == 15 and finished.version.delimiter == ";"
    connection.set_schema_to_public()


def test_wizard_honours_a_chosen_separator(browser, make_study) -> None:
    client = browser("steward")
    study = make_study(keys={})
    setup = f"/studies/{study.slug}/setup/"
    client.post(f"{setup}demographics/", {"file": _csv("demo.csv", SEMICOLON_DEMOGRAPHICS), "delimiter": ","})
    page = client.get(setup).content.decode()
    assert '<th scope="col" data-col="subject_id;visit;age_years;gender;weight_kg">' in page
    assert "Values separated by <strong>comma</strong> ·" in page  # chosen, so not "(detected)"

    bad = client.post(f"{setup}demographics/", {"file": _csv("demo.csv", SEMICOLON_DEMOGRAPHICS), "delimiter": ":"})
    assert bad.status_code == 422
    assert "The separator must be auto, comma, semicolon, tab or pipe." in bad.content.decode()


def test_upload_page_sends_the_separator_and_shows_what_was_used(browser, make_study, tenant_a) -> None:
    client = browser("steward")
    study = make_study()
    row = client.get(f"/studies/{study.slug}/upload/row/?filename=tasks.csv&row=0").content.decode()
    assert 'data-field="delimiter"' in row and "Separator, encoding &amp; note" in row
    text = "participant_id\tsession\tworking_memory\nP001\tBAS1\t101\nP002\tBAS1\t95\n"
    response = client.post(
        f"/studies/{study.slug}/upload/",
        {"file": _csv("tasks.csv", text), "name": "tasks", "kind": "measure", "delimiter": "auto"},
        **XHR,
    )
    assert response.status_code == 202
    job_id = int(re.search(r'data-ingest="(\d+)"', response.content.decode()).group(1))
    with tenant_context(tenant_a):
        ingest_job_execute(job_id)
    connection.set_schema_to_public()
    status = client.get(f"/studies/{study.slug}/ingests/{job_id}/").content.decode()
    assert 'data-status="succeeded"' in status and "<span data-separator>tab-separated</span>" in status
    version = client.get(f"/studies/{study.slug}/datasets/tasks/versions/1/").content.decode()
    assert re.search(r"<dd data-separator>tab <span[^>]*>\(detected\)</span></dd>", version)

    bad = client.post(
        f"/studies/{study.slug}/upload/",
        {"file": _csv("tasks.csv", text), "name": "tasks2", "kind": "measure", "delimiter": "colon"},
        **XHR,
    )
    assert bad.status_code == 422
    assert "The separator must be auto, comma, semicolon, tab or pipe." in bad.content.decode()
