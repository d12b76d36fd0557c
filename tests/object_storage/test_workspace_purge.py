"""Purging a deleted workspace removes its objects from the bucket (uploads, versions, results), audits what went,
and leaves every other workspace's objects alone; a storage that cannot be reached stops the purge before anything
else is removed."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from bdt_project.settings.object_storage import default_storage_backend
from datasets.models import DatasetVersion, Study
from datasets.services import ingest_job_create, study_create
from datasets.storage import setup_upload_name, storage_save
from datasets.tasks import ingest_run
from portal.deletion import workspace_delete_schedule, workspace_purge, workspaces_purge_due
from portal.storage_purge import StoragePurgeError, storage_prefix_purge
from queries.models import QueryRun
from queries.run_worker import query_run_execute
from queries.services import query_run_create
from tenants.models import Tenant
from tenants.services import membership_set, schema_name_for_slug, tenant_create, user_get_or_create
from tests.csv_data import MEMORY_COGNITIVE, MEMORY_DEMOGRAPHICS
from tests.object_storage.conftest import Bucket, Node
from tests.object_storage.s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server

GONE, KEPT = "purge-a", "purge-ab"  # "tenants/t_purge_a/" is a prefix of no key of "tenants/t_purge_ab/"
RUN = {"columns": {"cognitive": ["working_memory"]}, "shape": "long"}


def _workspace(slug: str, folder: Path) -> Tenant:
    """A committed workspace with a study of two ingested datasets, a run result and a wizard upload, all in the
    bucket (this process is the web process and runs the ingest and the run itself)."""
    tenant = tenant_create(slug=slug, name=slug, domain=f"{slug}.test").tenant
    steward = user_get_or_create(email=f"steward@{slug}.test", password="correct-horse-battery-9")
    membership_set(tenant=tenant, user=steward, role="steward")
    with tenant_context(tenant):
        study = study_create(
            tenant=tenant, actor=None, slug="cohort", name="Cohort", id_column="participant_id",
            session_column="session",
        )  # fmt: skip
        for name, kind, text in (
            ("demographics", "demographics", MEMORY_DEMOGRAPHICS),
            ("cognitive", "measure", MEMORY_COGNITIVE),
        ):
            path = folder / f"{slug}-{name}.csv"
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
            assert ingest_run(job.pk) == "succeeded"
        cohort = Study.objects.get(slug="cohort")
        run = query_run_create(tenant=tenant, actor=steward, study=cohort, payload=RUN, reuse=False, enqueue=False)
        assert query_run_execute(run.pk) == "succeeded"
        assert QueryRun.objects.get(pk=run.pk).result_file
        storage_save(setup_upload_name(study.pk), io.BytesIO(b"participant_id\nP1\n"))
    connection.set_schema_to_public()
    return tenant


@pytest.fixture(scope="module")
def workspaces(
    web: Node, django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Tenant]:
    folder = tmp_path_factory.mktemp("purge-uploads")
    with django_db_blocker.unblock():
        return {slug: _workspace(slug, folder) for slug in (GONE, KEPT)}


def _prefix(slug: str) -> str:
    return f"tenants/{schema_name_for_slug(slug)}/"


def _due(tenant: Tenant) -> None:
    workspace_delete_schedule(tenant=tenant, grace_days=0)
    Tenant.objects.filter(pk=tenant.pk).update(delete_after=timezone.now() - timedelta(minutes=1))


def test_an_unreachable_bucket_stops_the_purge_and_keeps_the_workspace(
    workspaces: dict[str, Tenant], bucket: Bucket, django_db_blocker: Any
) -> None:
    before = bucket.keys(_prefix(GONE))
    unreachable = {**bucket.env, "BDT_S3_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing listens on the discard port
    storages_unreachable = {**settings.STORAGES, "default": default_storage_backend(unreachable)}
    with django_db_blocker.unblock():
        _due(workspaces[GONE])
        with override_settings(STORAGES=storages_unreachable):
            assert workspaces_purge_due() == []  # logged, retried on the next hourly run
            tenant = Tenant.objects.get(slug=GONE)
            with pytest.raises(StoragePurgeError) as raised:
                workspace_purge(tenant=tenant)
        assert "127.0.0.1" not in str(raised.value) and bucket.name not in str(raised.value)
        assert Tenant.objects.filter(slug=GONE).exists()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [tenant.schema_name])
            assert cursor.fetchone() is not None
        assert not AuditEvent.objects.filter(action="tenant.purged", target_repr=GONE).exists()
        failed = AuditEvent.objects.get(action="tenant.purge_failed", target_repr=GONE)  # for the operators
        assert failed.details == {"slug": GONE, "reason": str(raised.value)}
    assert bucket.keys(_prefix(GONE)) == before


def test_purge_removes_every_object_of_the_workspace_and_only_those(
    workspaces: dict[str, Tenant], bucket: Bucket, web: Node, django_db_blocker: Any
) -> None:
    gone, kept = bucket.keys(_prefix(GONE)), bucket.keys(_prefix(KEPT))
    # What the workspace stored: both versions' originals and Parquet files, the run's result, the wizard upload.
    assert [key for key in gone if key.endswith("/original.csv")] and [k for k in gone if "/runs/" in k]
    assert [key for key in gone if "/setup/" in key] and len(gone) == len(kept) == 6
    with django_db_blocker.unblock():
        tenant = Tenant.objects.get(slug=GONE)
        with tenant_context(tenant):
            copies = {f"{v.parquet_sha256}.parquet" for v in DatasetVersion.objects.all()}
            copies |= {f"{r.result_sha256}.parquet" for r in QueryRun.objects.all()}
        assert copies and copies <= web.cached()  # this process ingested and ran them: it holds local copies
        if tenant.delete_after is None:
            _due(tenant)
        assert workspaces_purge_due() == [GONE]
        assert not Tenant.objects.filter(slug=GONE).exists()
        event = AuditEvent.objects.get(action="tenant.purged", target_repr=GONE)
    assert bucket.keys(_prefix(GONE)) == []
    assert bucket.keys(_prefix(KEPT)) == kept  # the other workspace, whose prefix starts the same way, is intact
    sizes = sum(bucket.client.head_object(Bucket=bucket.name, Key=key)["ContentLength"] for key in kept)
    assert event.details["files"] == {"storage": "s3", "objects": 6, "bytes": sizes, "versions": 0}
    assert web.local_files() == [] and not copies & web.cached()  # no local copy of the data either


@pytest.fixture()
def versioned(s3_server: S3Server) -> Iterator[tuple[Any, str]]:
    """A versioned bucket of its own (a plain delete there only hides an object behind a delete marker)."""
    name = f"bdt-versioned-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield client, name


def test_a_versioned_bucket_under_a_platform_prefix_keeps_no_old_version(
    versioned: tuple[Any, str], s3_server: S3Server
) -> None:
    client, name = versioned
    backend = default_storage_backend({**s3_server.env(name), "BDT_S3_PREFIX": "platform-one"})
    storage = storages.create_storage(backend)
    storage.save("tenants/t_gone/studies/s/d/v1/data.parquet", io.BytesIO(b"first"))
    storage.delete("tenants/t_gone/studies/s/d/v1/data.parquet")  # an older version and a delete marker remain
    storage.save("tenants/t_gone/studies/s/d/v1/data.parquet", io.BytesIO(b"second"))
    storage.save("tenants/t_gone/runs/1/result.parquet", io.BytesIO(b"result"))
    storage.save("tenants/t_gone_too/runs/1/result.parquet", io.BytesIO(b"a neighbour"))
    client.put_object(Bucket=name, Key="tenants/t_gone/other-platform.txt", Body=b"outside our prefix")

    report = storage_prefix_purge("tenants/t_gone/", storage)

    assert (report.storage, report.objects, report.bytes) == ("s3", 2, len(b"second") + len(b"result"))
    assert report.versions == 6  # three object versions, three delete markers (two of them the purge's own)
    versions = client.list_object_versions(Bucket=name, Prefix="platform-one/tenants/t_gone/")
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")
    assert storage.exists("tenants/t_gone_too/runs/1/result.parquet")
    assert client.get_object(Bucket=name, Key="tenants/t_gone/other-platform.txt")["Body"].read()
    with pytest.raises(ValueError):
        storage_prefix_purge("tenants/", storage)  # never the whole platform
