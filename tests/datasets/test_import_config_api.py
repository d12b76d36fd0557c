"""The BDT configuration sent to ``POST studies/import`` is untrusted input: whatever it holds, a refusal is a 422
naming the problem, before anything is stored or queued."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context

from datasets.models import IngestJob
from tests.csv_data import UPLOAD_DEMOGRAPHICS as DEMOGRAPHICS
from tests.plugins.datasets import csv_upload, study_files

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "config",
    [b'{"data": ' + b"[" * 100_000, b"data = " + b"[" * 100_000, b"ui = " + b"{a = " * 100_000],
    ids=["json", "toml-arrays", "toml-inline-tables"],
)
def test_a_config_nested_too_deeply_is_refused(steward_api, tenant_a, config: bytes) -> None:
    form = {"slug": "deep", "name": "Deep", "id_column": "participant_id"}
    files = {"demographics": csv_upload(DEMOGRAPHICS), "config": SimpleUploadedFile("config.toml", config)}
    response = steward_api.post("/api/v1/studies/import", {**form, **files}, multipart=True)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_config" and "more than 64 levels deep" in error["message"]
    with tenant_context(tenant_a):
        assert not IngestJob.objects.exists()
    assert study_files(tenant_a, "deep") == []
