"""Dataset versions, run results and exports on an S3-compatible bucket, served by two workers that share nothing
but PostgreSQL, Redis and the bucket (each with its own cache)."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.models import IngestJob, IngestStatus, Study
from datasets.services import ingest_job_create, study_create
from datasets.tasks import ingest_run
from queries.models import QueryRun, RunStatus
from queries.run_queue import run_enqueue
from queries.services import query_run_create
from tenants.models import Tenant
from tenants.services import membership_set, schema_name_for_slug, tenant_create, user_get_or_create
from tenants.tokens import api_token_create
from tests.conftest import ApiClient
from tests.csv_data import MEMORY_COGNITIVE, MEMORY_DEMOGRAPHICS
from tests.object_storage.conftest import Bucket, Node
from tests.worker import wait_for

pytestmark = [pytest.mark.worker]

Workers = dict[str, tuple[Node, subprocess.Popen[bytes]]]
PREFIX = f"tenants/{schema_name_for_slug('lab-s3')}/"
FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
RUN = {"columns": {"cognitive": ["working_memory", "note"]}, "shape": "long"}


def _ingest(tenant: Tenant, study: Study, text: str, name: str, kind: str, queue: str, folder: Path) -> IngestJob:
    path = folder / f"{name}.csv"
    path.write_text(text)
    with open(path, "rb") as handle:
        job = ingest_job_create(
            tenant=tenant,
            actor=None,
            study=study,
            upload=File(handle, name=path.name),
            dataset_name=name,
            kind=kind,
            enqueue=False,
        )
    ingest_run.apply_async(args=[job.pk], queue=queue)
    done = wait_for(lambda: IngestJob.objects.filter(pk=job.pk, status__in=["succeeded", "failed"]).first())
    assert done.status == IngestStatus.SUCCEEDED, done.error_message
    return done


@pytest.fixture(scope="module")
def lab(
    web: Node, workers: Workers, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A committed workspace whose study was uploaded here (the web process) and ingested by worker ``a``."""
    folder = tmp_path_factory.mktemp("uploads")
    with django_db_blocker.unblock():
        tenant = tenant_create(slug="lab-s3", name="Lab S3", domain="lab-s3.test").tenant
        steward = user_get_or_create(email="steward@lab-s3.test", password="correct-horse-battery-9")
        membership_set(tenant=tenant, user=steward, role="steward")
        token = api_token_create(user=steward, tenant=tenant, name="s3", expires_days=None).plaintext
        with tenant_context(tenant):
            study = study_create(
                tenant=tenant, actor=None, slug="cohort", name="Cohort", id_column="participant_id",
                session_column="session",
            )  # fmt: skip
            jobs = [
                _ingest(tenant, study, MEMORY_DEMOGRAPHICS, "demographics", "demographics", "s3-a", folder),
                _ingest(tenant, study, MEMORY_COGNITIVE, "cognitive", "measure", "s3-a", folder),
            ]
            versions = {job.version.dataset.name: job.version for job in jobs}
        connection.set_schema_to_public()
    return {
        "tenant": tenant,
        "steward": steward,
        "api": ApiClient(host="lab-s3.test", token=token),
        "versions": versions,
    }


def _clear(node: Node) -> None:
    shutil.rmtree(node.cache)
    node.cache.mkdir()


def _runs(lab: dict[str, Any], queue: str, count: int) -> list[QueryRun]:
    """``count`` runs of the same spec, queued at once on ``queue``; returned when all have finished."""
    with tenant_context(lab["tenant"]):
        study = Study.objects.get(slug="cohort")
        runs = [
            query_run_create(
                tenant=lab["tenant"], actor=lab["steward"], study=study, payload=RUN, reuse=False, enqueue=False
            )
            for _ in range(count)
        ]
        for run in runs:
            run_enqueue(run, queue=queue)
        ids = [run.pk for run in runs]
        wait_for(lambda: QueryRun.objects.filter(pk__in=ids, status__in=FINISHED).count() == count)
        done = list(QueryRun.objects.filter(pk__in=ids).order_by("pk"))
    connection.set_schema_to_public()
    return done


def _run(lab: dict[str, Any], queue: str) -> QueryRun:
    return _runs(lab, queue, 1)[0]


def _rows(lab: dict[str, Any], run_id: int, django_db_blocker: Any) -> list[list[Any]]:
    with django_db_blocker.unblock():
        response = lab["api"].get(f"/api/v1/queries/{run_id}/rows?page=1&page_size=100")
    assert response.status_code == 200, response.content
    return list(response.json()["items"])


def test_an_upload_becomes_objects_in_the_bucket_and_no_local_file(
    lab: dict[str, Any], bucket: Bucket, web: Node, workers: Workers
) -> None:
    keys = bucket.keys(PREFIX)
    for name, version in lab["versions"].items():
        base = f"{PREFIX}studies/cohort/{name}/v{version.number}/"
        assert {f"{base}original.csv", f"{base}data.parquet"} <= set(keys)
        assert version.parquet_file == f"{base}data.parquet"
        stored = bucket.read(version.parquet_file)
        assert hashlib.sha256(stored).hexdigest() == version.parquet_sha256  # the bytes the platform recorded
    assert bucket.read(lab["versions"]["cognitive"].original_file) == MEMORY_COGNITIVE.encode()
    # Staged uploads are removed once ingested (the worker removes them right after it records the success).
    wait_for(lambda: not [key for key in bucket.keys(PREFIX) if "/staging/" in key], timeout=30)
    # The ingesting worker kept its Parquet files in its own cache; no process wrote a file to local storage.
    assert {f"{v.parquet_sha256}.parquet" for v in lab["versions"].values()} <= workers["a"][0].cached()
    assert [node.local_files() for node in (web, workers["a"][0], workers["b"][0])] == [[], [], []]


def test_a_count_reads_the_versions_from_the_bucket(lab: dict[str, Any], web: Node, django_db_blocker: Any) -> None:
    _clear(web)
    with django_db_blocker.unblock():
        response = lab["api"].post("/api/v1/studies/cohort/count", {"sessions": ["BAS1"]})
    assert response.status_code == 200, response.content
    assert (response.json()["participants"], response.json()["rows"]) == (4, 4)
    assert f"{lab['versions']['demographics'].parquet_sha256}.parquet" in web.cached()


def test_two_workers_with_their_own_caches_serve_the_same_run(
    lab: dict[str, Any], bucket: Bucket, workers: Workers, django_db_blocker: Any
) -> None:
    node_b = workers["b"][0]
    _clear(node_b)
    with django_db_blocker.unblock():
        on_a, on_b = _run(lab, "s3-a"), _run(lab, "s3-b")
    assert (on_a.status, on_b.status) == (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED), (
        on_a.error_message,
        on_b.error_message,
    )
    # Worker b had none of the study's files: it fetched the versions from the bucket into its own cache.
    assert {f"{v.parquet_sha256}.parquet" for v in lab["versions"].values()} <= node_b.cached()
    for run in (on_a, on_b):
        assert run.result_file == f"{PREFIX}runs/{run.pk}/result.parquet"
        assert hashlib.sha256(bucket.read(run.result_file)).hexdigest() == run.result_sha256
    assert on_a.row_count == on_b.row_count == 6 and on_a.result_sha256 == on_b.result_sha256  # every session
    rows_a, rows_b = _rows(lab, on_a.pk, django_db_blocker), _rows(lab, on_b.pk, django_db_blocker)
    assert rows_a == rows_b and {row[-2] for row in rows_a} == {101.5, 99.0, 120.0, 90.0, None}


def test_both_workers_take_runs_from_one_shared_queue_with_the_same_results(
    lab: dict[str, Any], workers: Workers, django_db_blocker: Any
) -> None:
    for node, _ in workers.values():
        _clear(node)
    with django_db_blocker.unblock():
        runs = _runs(lab, "s3-shared", 4)  # queued at once: a busy worker takes no more, the idle one does
    assert {run.status for run in runs} == {RunStatus.SUCCEEDED}
    assert len({run.result_sha256 for run in runs}) == 1
    # Each worker took some of the runs, fetching the versions from the bucket into its own cache.
    versions = {f"{v.parquet_sha256}.parquet" for v in lab["versions"].values()}
    assert all(versions <= node.cached() for node, _ in workers.values())


def test_an_export_is_built_from_the_result_object(lab: dict[str, Any], web: Node, django_db_blocker: Any) -> None:
    with django_db_blocker.unblock():
        run = _run(lab, "s3-b")
        _clear(web)  # the web process has never seen this result: it reads it from the bucket
        refused = lab["api"].get(f"/api/v1/queries/{run.pk}/export?format=csv")
        response = lab["api"].get(f"/api/v1/queries/{run.pk}/export?format=csv&purpose=cohort+paper+2026")
        body = b"".join(response.streaming_content).decode()
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "purpose_required"
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 6 and '\'=HYPERLINK("x")' in {row["note"] for row in rows}  # formula-safe
    assert f"{run.result_sha256}.parquet" in web.cached()
    assert web.local_files() == []


def test_a_version_missing_from_the_bucket_is_a_clear_error_not_a_leak(
    lab: dict[str, Any], bucket: Bucket, web: Node, workers: Workers, django_db_blocker: Any
) -> None:
    version = lab["versions"]["cognitive"]
    saved = bucket.read(version.parquet_file)
    with django_db_blocker.unblock(), tenant_context(lab["tenant"]):
        queued = query_run_create(
            tenant=lab["tenant"], actor=lab["steward"], study=Study.objects.get(slug="cohort"), payload=RUN,
            reuse=False, enqueue=False,
        )  # fmt: skip
    connection.set_schema_to_public()
    bucket.client.delete_object(Bucket=bucket.name, Key=version.parquet_file)
    _clear(web)
    _clear(workers["b"][0])
    try:
        with django_db_blocker.unblock():
            spec = {"filters": [{"dataset": "cognitive", "column": "working_memory", "op": "gte", "value": 95}]}
            counted = lab["api"].post("/api/v1/studies/cohort/count", spec)
            with tenant_context(lab["tenant"]):
                run_enqueue(queued, queue="s3-b")
                failed = wait_for(lambda: QueryRun.objects.filter(pk=queued.pk, status__in=FINISHED).first())
            connection.set_schema_to_public()
    finally:
        bucket.client.put_object(Bucket=bucket.name, Key=version.parquet_file, Body=saved)
    assert counted.status_code == 503 and counted.json()["error"]["code"] == "stored_file_unavailable"
    assert failed.status == RunStatus.FAILED and failed.error_code == "stored_file_unavailable"
    for message in (counted.json()["error"]["message"], failed.error_message):
        assert "cognitive" not in message and "127.0.0.1" not in message and bucket.name not in message
    assert failed.result_file == "" and not bucket.keys(f"{PREFIX}runs/{failed.pk}/")
    with django_db_blocker.unblock():
        again = _run(lab, "s3-b")  # the object is back: the same worker serves the run
        recounted = lab["api"].post("/api/v1/studies/cohort/count", spec)
    assert again.status == RunStatus.SUCCEEDED and recounted.status_code == 200
    assert recounted.json()["participants"] == 2  # 001 and 002
