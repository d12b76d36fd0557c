"""A declared encoding must be a character encoding of text: Python's byte and string transforms (rot13, hex, base64,
zlib...) are refused when the upload is sent (422 ``invalid_encoding``), before anything is stored or queued."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from datasets.models import IngestJob
from tests.csv_data import UPLOAD_DEMOGRAPHICS as DEMOGRAPHICS
from tests.plugins.datasets import csv_upload, study_files

pytestmark = pytest.mark.django_db

TRANSFORMS = ["rot13", "hex", "base64", "zlib", "bz2_codec", "uu", "quopri", "undefined"]


def _refused(response, name: str) -> None:
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_encoding"
    assert name in error["message"] and "utf-8, latin-1, cp1252 or utf-16" in error["message"]


@pytest.mark.parametrize("encoding", [*TRANSFORMS, "klingon-8"])
def test_an_upload_declaring_no_text_encoding_is_refused_before_anything_is_stored(
    steward_api, make_study, tenant_a, encoding
) -> None:
    make_study("memory")
    response = steward_api.post(
        "/api/v1/studies/memory/datasets",
        {"file": csv_upload(DEMOGRAPHICS), "name": "demographics", "kind": "demographics", "encoding": encoding},
        multipart=True,
    )
    _refused(response, encoding)
    with tenant_context(tenant_a):
        assert not IngestJob.objects.exists()
    assert study_files(tenant_a, "memory") == []


def test_a_study_import_declaring_no_text_encoding_is_refused(steward_api, tenant_a) -> None:
    form = {"slug": "zipped", "name": "Zipped", "id_column": "participant_id", "encoding": "zlib"}
    response = steward_api.post(
        "/api/v1/studies/import", {**form, "demographics": csv_upload(DEMOGRAPHICS)}, multipart=True
    )
    _refused(response, "zlib")
    with tenant_context(tenant_a):
        assert not IngestJob.objects.exists()
    assert study_files(tenant_a, "zipped") == []


@pytest.mark.parametrize("spelling", [" Latin-1 ", "latin" + "-" * 30 + "1"])  # the second: longer than a job keeps
def test_a_text_encoding_in_any_spelling_is_still_accepted(steward_api, make_study, upload, spelling) -> None:
    make_study("memory")
    data = DEMOGRAPHICS.replace("Discovery", "Montr\u00e9al").encode("latin-1")
    _, ingest = upload("memory", data, "demographics", kind="demographics", encoding=spelling)
    assert ingest["status"] == "succeeded", ingest
    latest = steward_api.get("/api/v1/studies/memory/datasets/demographics").json()["latest_version"]
    assert latest["encoding"] == "iso8859-1"
