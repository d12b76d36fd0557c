"""Fixtures of studies made through the API (registered for every test in tests/conftest.py): a steward's API
client, ``make_study``, ``upload`` (an upload run to the end of its ingest), a per-test storage root
(``isolated_media``, made autouse by the suites that want it) and helpers to look at what is stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.ingest_runner import ingest_job_execute
from datasets.models import IngestJob, IngestStatus, Study
from datasets.services import ingest_file_sync, study_create
from tenants.models import Tenant
from tenants.services import tenant_create
from tests.conftest import ApiClient


def csv_upload(text: str | bytes, name: str = "data.csv") -> SimpleUploadedFile:
    """An in-memory upload with the given content."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


@pytest.fixture
def steward_api(api: Callable[..., ApiClient], tenant_a: Any) -> ApiClient:
    return api(tenant_a, "steward")


@pytest.fixture
def make_study(steward_api: ApiClient) -> Callable[..., dict[str, Any]]:
    """Create a study through the API; longitudinal on participant_id + session by default."""

    def _make(slug: str = "memory", **fields: Any) -> dict[str, Any]:
        payload = {"slug": slug, "name": slug.title(), "id_column": "participant_id", "session_column": "session"}
        payload.update(fields)
        response = steward_api.post("/api/v1/studies", payload)
        assert response.status_code == 201, response.content
        return response.json()

    return _make


@pytest.fixture
def upload(steward_api: ApiClient, django_capture_on_commit_callbacks: Any, tenant_a: Any) -> Callable[..., Any]:
    """Upload a CSV through the API and run its ingest to the end (in-process); returns the final ingest JSON."""

    def _upload(
        study: str, text: str | bytes, name: str, kind: str = "measure", client: ApiClient | None = None, **form: str
    ) -> tuple[Any, dict[str, Any] | None]:
        caller = client or steward_api
        response = caller.post(
            f"/api/v1/studies/{study}/datasets",
            {"file": csv_upload(text, f"{name}.csv"), "name": name, "kind": kind, **form},
            multipart=True,
        )
        if response.status_code != 202:
            return response, None
        job_id = response.json()["ingest"]["id"]
        with tenant_context(tenant_a):
            ingest_job_execute(job_id)
        connection.set_schema_to_public()
        return response, caller.get(f"/api/v1/ingests/{job_id}").json()

    return _upload


def committed_study_tenant(slug: str, study_slug: str, demographics: str, folder: Path) -> Tenant:
    """A workspace of its own (``slug``, host ``<slug>.test``) with a committed longitudinal study and its
    demographics: for worker tests, whose committed data must not disturb other tests. Call it with the database
    unblocked; leaves the connection in the public schema."""
    tenant = tenant_create(slug=slug, name=slug.replace("-", " ").title(), domain=f"{slug}.test").tenant
    with tenant_context(tenant):
        study = Study.objects.filter(slug=study_slug).first() or study_create(
            tenant=tenant,
            actor=None,
            slug=study_slug,
            name=study_slug.title(),
            id_column="participant_id",
            session_column="session",
        )
        if study.demographics_id is None:
            path = folder / "demographics.csv"
            path.write_text(demographics)
            job = ingest_file_sync(study=study, path=path, dataset_name="demographics", kind="demographics")
            assert job.status == IngestStatus.SUCCEEDED, job.error_message
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    return tenant


def study_files(tenant: Any, slug: str) -> list[str]:
    """Every storage name under the tenant's prefix (to prove nothing is left behind)."""
    from datasets.storage import tenant_prefix
    from tests.datasets.storage_walk import walk

    with tenant_context(tenant):
        return sorted(walk(tenant_prefix()))


def ingest_jobs(tenant: Any) -> list[IngestJob]:
    with tenant_context(tenant):
        return list(IngestJob.objects.all())


def studies(tenant: Any) -> list[Study]:
    with tenant_context(tenant):
        return list(Study.objects.all())


@pytest.fixture
def isolated_media(request: pytest.FixtureRequest, settings: Any, tmp_path: Any) -> None:
    """Each test gets its own storage root, so 'nothing left behind' checks see only that test's files.

    Worker tests keep the shared root: the worker process must see the same files.
    """
    if request.node.get_closest_marker("worker") is None:
        settings.MEDIA_ROOT = tmp_path / "media"
