"""The bad-file corpus through the real upload path: each file gets its specific error and leaves no trace."""

from __future__ import annotations

import io
import zipfile

import pytest
from django_tenants.utils import tenant_context

from datasets.models import Dataset, DatasetVersion, IngestJob
from tests.csv_data import UPLOAD_DEMOGRAPHICS as DEMOGRAPHICS
from tests.plugins.datasets import study_files

pytestmark = pytest.mark.django_db

HEADER = "participant_id,session,age\n"


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("demographics.csv", DEMOGRAPHICS)
    return buffer.getvalue()


BAD_FILES = {
    "empty_file": b"",
    "header_only": HEADER.encode(),
    "duplicate_columns": b"participant_id,session,age,age\n001,BAS1,30,31\n",
    "empty_column_name": b"participant_id,session,,age\n001,BAS1,x,30\n",
    "ragged_rows": (HEADER + "001,BAS1,30\n002,BAS1,31,extra\n").encode(),
    "unclosed_quote": (HEADER + '001,BAS1,"30\n002,BAS1,31\n').encode(),
    "binary_content": b"participant_id,session,age\n001,BAS1,\x00\x00\x00\x00\x01\x02\n",
    "archive_content": _zip_bytes(),
    "unsupported_encoding": "participant_id,session,city\n001,BAS1,Zürich\n002,BAS1,Malmö\n".encode("latin-1"),
    "missing_id_column": b"subject,session,age\n001,BAS1,30\n",
    "missing_session_column": b"participant_id,age\n001,30\n",
    "empty_ids": (HEADER + "001,BAS1,30\n,BAS1,31\n").encode(),
    "duplicate_keys": (HEADER + "001,BAS1,30\n001,BAS1,31\n").encode(),
}


@pytest.mark.parametrize("code", sorted(BAD_FILES))
def test_bad_demographics_file_is_rejected_with_its_code(code, make_study, upload, steward_api, tenant_a) -> None:
    make_study("memory")
    accepted, ingest = upload("memory", BAD_FILES[code], "demographics", kind="demographics")
    assert accepted.status_code == 202
    assert ingest["status"] == "failed", ingest
    assert ingest["error"]["code"] == code
    assert len(ingest["error"]["message"]) > 20
    for leak in ("/tmp", "/work", ".bdt", "staging", "Traceback"):
        assert leak not in ingest["error"]["message"]
    assert ingest["version"] is None
    with tenant_context(tenant_a):
        assert not Dataset.objects.exists() and not DatasetVersion.objects.exists()
        assert IngestJob.objects.get().status == "failed"
    assert study_files(tenant_a, "memory") == []
    assert steward_api.get("/api/v1/studies/memory").json()["demographics"] is None


def test_error_messages_name_the_problem(make_study, upload) -> None:
    make_study("memory")
    _, dup = upload("memory", BAD_FILES["duplicate_columns"], "demographics", kind="demographics")
    assert "age" in dup["error"]["message"]
    _, ragged = upload("memory", BAD_FILES["ragged_rows"], "demographics", kind="demographics")
    assert "3" in ragged["error"]["message"]  # the line number
    _, missing = upload("memory", BAD_FILES["missing_id_column"], "demographics", kind="demographics")
    assert "participant_id" in missing["error"]["message"]


def test_latin1_is_accepted_when_declared(make_study, upload, tenant_a) -> None:
    make_study("memory", session_column=None)
    data = "participant_id,city\n001,Zürich\n002,Malmö\n".encode("latin-1")
    _, ingest = upload("memory", data, "demographics", kind="demographics", encoding="latin-1")
    assert ingest["status"] == "succeeded", ingest


def test_research_headers_with_sql_words_are_accepted(make_study, upload, steward_api) -> None:
    make_study("memory", session_column=None)
    data = (
        "participant_id,dropout_flag,timetable,executive_function(z),reunion,selected,union select\n1,0,a,1.5,x,y,z\n"
    )
    _, ingest = upload("memory", data, "demographics", kind="demographics")
    assert ingest["status"] == "succeeded", ingest
    names = [
        c["name"]
        for c in steward_api.get("/api/v1/studies/memory/datasets/demographics").json()["latest_version"]["columns"]
    ]
    assert names == [
        "participant_id",
        "dropout_flag",
        "timetable",
        "executive_function(z)",
        "reunion",
        "selected",
        "union select",
    ]


def test_duplicate_measure_keys_allowed_when_the_study_says_so(make_study, upload) -> None:
    make_study("memory", allow_duplicate_keys=True)
    upload("memory", DEMOGRAPHICS, "demographics", kind="demographics")
    repeated = "participant_id,session,trial,rt\n001,BAS1,1,350\n001,BAS1,2,360\n"
    _, ingest = upload("memory", repeated, "trials")
    assert ingest["status"] == "succeeded", ingest
