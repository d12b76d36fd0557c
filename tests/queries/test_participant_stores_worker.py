"""The participant index store is built by a real Celery worker after an ingest succeeds, and the web process's
counts then read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.models import IngestJob, Study
from datasets.services import ingest_job_create
from datasets.storage import participant_store_directory
from queries.core.engines.duckdb_engine import DuckDBEngine
from queries.core.engines.participant_store import store_file
from queries.core.spec import spec_parse
from queries.execution import engine_create, query_prepare
from queries.participant_stores import participant_store_location
from tenants.models import Tenant
from tests.csv_data import UPLOAD_DEMOGRAPHICS
from tests.plugins.datasets import committed_study_tenant
from tests.worker import wait_for

pytestmark = [pytest.mark.worker]


@pytest.fixture(scope="module")
def store_tenant(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: Any) -> Tenant:
    """A tenant of its own with a committed study and its demographics."""
    with django_db_blocker.unblock():
        return committed_study_tenant("lab-store", "indexed", UPLOAD_DEMOGRAPHICS, tmp_path_factory.mktemp("demo"))


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
        done = wait_for(lambda: IngestJob.objects.filter(pk=job.pk, status__in=["succeeded", "failed"]).first())
        assert done.status == "succeeded", done.error_message
        prepared = query_prepare(tenant=store_tenant, study=study, spec=spec_parse(SPEC), purpose="interactive")
        path = store_file(participant_store_directory(study.pk), prepared.catalog)
        wait_for(path.exists)  # built by the worker once the new version committed
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
