"""Fixtures of the study/dataset page tests: signed-in browsers per role, studies with real ingested data."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from datasets.models import DatasetKind, IngestJob, Study
from datasets.services import ingest_file_sync, study_create
from tenants.models import Tenant

DEMOGRAPHICS = (
    "participant_id,session,age,sex,site,handedness\n"
    "P001,BAS1,25.5,F,Discovery,right\n"
    "P001,FU1,26.0,F,Discovery,right\n"
    "P002,BAS1,31.0,M,Discovery;Neurofeedback,left\n"
    "P003,BAS1,44.2,F,Longitudinal_Adult,right\n"
    "P003,FU1,45.0,F,Longitudinal_Adult,right\n"
    "P004,BAS1,,M,Discovery,\n"
)
COGNITIVE = (
    "participant_id,session,working_memory,processing_speed,notes\n"
    "P001,BAS1,101,50.5,ok\n"
    "P001,FU1,104,52.0,\n"
    "P002,BAS1,95,47.25,tired\n"
    "P003,BAS1,110,55.0,ok\n"
)
COGNITIVE_V2 = (
    "participant_id,session,working_memory,processing_speed,attention\n"
    "P001,BAS1,101,50.5,7\n"
    "P001,FU1,104,52.0,8\n"
    "P002,BAS1,95,47.25,6\n"
    "P003,BAS1,110,55.0,9\n"
    "P003,FU1,111,56.0,9\n"
    "P004,BAS1,99,49.0,5\n"
)
KEYS = {
    "id_column": "participant_id",
    "session_column": "session",
    "age_column": "age",
    "sex_column": "sex",
    "site_column": "site",
}


def unique_slug(prefix: str = "study") -> str:
    """A study slug no other test (or earlier run: stored files outlive the rolled-back rows) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _own_media_root(settings: Any, tmp_path: Path) -> None:
    """Each test stores files in its own folder: the database is rolled back (and its ids reused by the next
    session), files are not, so a shared media folder would hand a later test a staged file of an earlier one."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def host(tenant_a: Tenant) -> str:
    return tenant_a.primary_domain_name() or "lab-a.test"


@pytest.fixture
def browser(tenant_a: Tenant, page_client: Callable[..., Client], host: str) -> Callable[..., Client]:
    """``browser(role)`` -> a test client on lab A's host, signed in as a new member of lab A (or ``tenant``)."""

    def _make(role: str = "steward", tenant: Tenant | None = None) -> Client:
        return page_client(tenant or tenant_a, role, host=host)

    return _make


@pytest.fixture
def ingest(tenant_a: Tenant, tmp_path: Path) -> Callable[..., IngestJob]:
    """``ingest(study, name, text, kind=...)`` runs a real ingest of ``text`` synchronously."""

    def _ingest(
        study: Study, name: str, text: str | bytes, kind: str = DatasetKind.MEASURE, note: str = ""
    ) -> IngestJob:
        path = tmp_path / f"{name}-{uuid.uuid4().hex[:6]}.csv"
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        with tenant_context(tenant_a):
            job = ingest_file_sync(study=study, path=path, dataset_name=name, kind=kind, note=note)
            study.refresh_from_db()
        connection.set_schema_to_public()
        return job

    return _ingest


@pytest.fixture
def make_study(tenant_a: Tenant, ingest: Callable[..., IngestJob]) -> Callable[..., Study]:
    """``make_study(keys=..., demographics=..., measures={...})`` -> a study in lab A, with real ingested data."""

    def _make(
        *,
        keys: dict[str, str] | None = None,
        demographics: str | None = DEMOGRAPHICS,
        measures: dict[str, str] | None = None,
        name: str = "Sleep and Memory",
        description: str = "",
    ) -> Study:
        with tenant_context(tenant_a):
            study = study_create(
                tenant=tenant_a,
                actor=None,
                slug=unique_slug(),
                name=name,
                description=description,
                **(KEYS if keys is None else keys),
            )
        connection.set_schema_to_public()
        if demographics is not None and study.keys_confirmed:
            job = ingest(study, "demographics", demographics, kind=DatasetKind.DEMOGRAPHICS)
            assert job.status == "succeeded", job.error_message
        for dataset, text in (measures or {}).items():
            job = ingest(study, dataset, text)
            assert job.status == "succeeded", job.error_message
        with tenant_context(tenant_a):
            study.refresh_from_db()
        connection.set_schema_to_public()
        return study

    return _make
