"""The ingest path through a real Celery worker, including a worker that dies mid-ingest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from django.core.files import File
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.ingest_runner import ingest_jobs_reap
from datasets.models import Dataset, DatasetVersion, IngestJob, IngestStatus, Study
from datasets.services import ingest_job_create
from datasets.storage import tenant_prefix
from datasets.tasks import ingest_run
from tenants.models import Tenant
from tests.csv_data import UPLOAD_DEMOGRAPHICS as DEMOGRAPHICS
from tests.datasets.storage_walk import walk
from tests.plugins.datasets import committed_study_tenant
from tests.worker import wait_for, worker_start, worker_stop

pytestmark = [pytest.mark.worker]


@pytest.fixture(scope="module")
def worker_tenant(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: Any) -> Tenant:
    """A tenant of its own with a committed study, so committed data cannot disturb other tests."""
    with django_db_blocker.unblock():
        return committed_study_tenant("lab-worker", "work", DEMOGRAPHICS, tmp_path_factory.mktemp("demo"))


def _big_measure(path: Path, rows: int) -> Path:
    duckdb.connect().execute(
        f"""COPY (SELECT lpad(CAST(i % 3 + 1 AS VARCHAR), 3, '0') AS participant_id,
                  'S' || CAST(i AS VARCHAR) AS session,
                  random() AS score, 'text ' || CAST(i AS VARCHAR) AS note FROM range({rows}) t(i))
            TO '{path}' (HEADER, DELIMITER ',')"""
    )
    return path


def test_upload_is_ingested_by_the_worker(
    celery_worker: Any, worker_tenant: Tenant, django_db_blocker: Any, tmp_path: Path
) -> None:
    measure = tmp_path / "scores.csv"
    measure.write_text("participant_id,session,score\n001,BAS1,1.5\n002,BAS1,2.5\n")
    with django_db_blocker.unblock(), tenant_context(worker_tenant):
        study = Study.objects.get(slug="work")
        with open(measure, "rb") as handle:
            job = ingest_job_create(
                tenant=worker_tenant,
                actor=None,
                study=study,
                upload=File(handle, name="scores.csv"),
                dataset_name="scores",
                kind="measure",
            )
        # outside a test transaction on_commit fires at once: the task is already queued to the real worker
        done = wait_for(lambda: IngestJob.objects.filter(pk=job.pk, status__in=["succeeded", "failed"]).first())
        assert done.status == "succeeded", done.error_message
        assert done.version.number >= 1 and done.version.row_count == 2
    connection.set_schema_to_public()


def test_worker_killed_mid_ingest_leaves_nothing_and_the_job_fails(
    worker_tenant: Tenant, django_db_blocker: Any, test_db_name: str, tmp_path: Path
) -> None:
    source = _big_measure(tmp_path / "huge.csv", 4_000_000)
    with django_db_blocker.unblock(), tenant_context(worker_tenant):
        study = Study.objects.get(slug="work")
        with open(source, "rb") as handle:
            job = ingest_job_create(
                tenant=worker_tenant,
                actor=None,
                study=study,
                upload=File(handle, name="huge.csv"),
                dataset_name="huge",
                kind="measure",
                enqueue=False,
            )
        worker = worker_start(test_db_name, queues="kill-test", name="doomed")
        try:
            ingest_run.apply_async(args=[job.pk], queue="kill-test")
            wait_for(lambda: IngestJob.objects.filter(pk=job.pk, status=IngestStatus.RUNNING).exists())
            worker_stop(worker, kill=True)
        finally:
            worker_stop(worker, kill=True)
        assert IngestJob.objects.get(pk=job.pk).status == IngestStatus.RUNNING  # stuck until the reaper runs
        assert ingest_jobs_reap(stale_after=timedelta(seconds=0)) >= 1
        failed = IngestJob.objects.get(pk=job.pk)
        assert failed.status == IngestStatus.FAILED and failed.error_code == "worker_lost"
        assert not Dataset.objects.filter(name="huge").exists()
        assert not DatasetVersion.objects.filter(dataset__name="huge").exists()
        leftovers = [name for name in walk(tenant_prefix()) if "huge" in name or f"staging/{job.pk}/" in name]
        assert leftovers == []
    connection.set_schema_to_public()
