"""The participant index store is built by a real Celery worker after an ingest succeeds, and the web process's
counts then read it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.models import IngestJob, IngestStatus, Study
from datasets.services import ingest_file_sync, ingest_job_create, study_create
from datasets.storage import participant_store_directory
from queries.core.engines.duckdb_engine import DuckDBEngine
from queries.core.engines.participant_store import store_file
from queries.core.spec import spec_parse
from queries.execution import engine_create, query_prepare
from queries.participant_stores import participant_store_location
from tenants.models import Tenant
from tenants.services import tenant_create
from tests.csv_data import UPLOAD_DEMOGRAPHICS

pytestmark = [pytest.mark.worker]


@pytest.fixture(scope="module")
def store_tenant(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: Any) -> Tenant:
    """A tenant of its own with a committed study and its demographics."""
    with django_db_blocker.unblock():
        tenant = tenant_create(slug="lab-store", name="Lab Store", domain="lab-store.test").tenant
        with tenant_context(tenant):
            study = Study.objects.filter(slug="indexed").first() or study_create(
                tenant=tenant,
                actor=None,
                slug="indexed",
                name="Indexed",
                id_column="participant_id",
                session_column="session",
            )
            if study.demographics_id is None:
                path = tmp_path_factory.mktemp("demo") / "demographics.csv"
                path.write_text(UPLOAD_DEMOGRAPHICS)
                job = ingest_file_sync(study=study, path=path, dataset_name="demographics", kind="demographics")
                assert job.status == IngestStatus.SUCCEEDED, job.error_message
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        return tenant


def _wait(predicate: Any, timeout: float = 120.0, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not reached in time")


SPEC = {"filters": [{"dataset": "scores", "column": "score", "op": "gte", "value": 2}]}


def test_the_worker_builds_the_store_after_an_ingest_and_counts_read_it(
    celery_worker: Any, store_tenant: Tenant, django_db_blocker: Any, tmp_path: Path
) -> None:
    measure = tmp_path / "scores.csv"
    measure.write_text("participant_id,session,score\n001,BAS1,1.5\n002,BAS1,2.5\n")
    with django_db_blocker.unblock(), tenant_context(store_tenant):
        study = Study.objects.get(slug="indexed")
        with open(measure, "rb") as handle:
            job = ingest_job_create(
                tenant=store_tenant,
                actor=None,
                study=study,
                upload=File(handle, name="scores.csv"),  # type: ignore[arg-type]
                dataset_name="scores",
                kind="measure",
            )
        done = _wait(lambda: IngestJob.objects.filter(pk=job.pk, status__in=["succeeded", "failed"]).first())
        assert done.status == "succeeded", done.error_message
        prepared = query_prepare(tenant=store_tenant, study=study, spec=spec_parse(SPEC), purpose="interactive")
        path = store_file(participant_store_directory(study.pk), prepared.catalog)
        _wait(path.exists)  # built by the worker once the new version committed
        engine = engine_create(study, timeout_s=30, store=participant_store_location(study))
        assert isinstance(engine, DuckDBEngine)
        try:
            counted = engine.count(prepared.validated, prepared.catalog)
        finally:
            engine.close()
        assert (counted.participants, counted.rows) == (1, 1)
        assert engine.index_used == path.stem
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # the set before the ingest is gone
    connection.set_schema_to_public()  # type: ignore[attr-defined]
