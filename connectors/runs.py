"""The worker side of a sync run: pull the source, check schema drift, feed the reserved ingest job, record."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from django.core.files import File
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from audit.services import audit_event_record
from connectors.core import ConnectorError, PullOptions
from connectors.core.row_diff import row_diff, schema_drift
from connectors.models import SyncRun, SyncRunStatus
from connectors.services import connector_for
from core.budgets import engine_budget
from core.config import config_get
from core.errors import ApiError
from datasets.ingest_runner import ingest_job_execute, ingest_job_fail
from datasets.models import DatasetVersion, IngestJob, IngestStatus
from datasets.services import ingest_job_attach
from datasets.storage import version_cache_path, work_root

logger = logging.getLogger(__name__)
PULL_SHARE = 0.3  # of the ingest job's progress bar while the connector pulls


def _pull_progress(job_id: int) -> Any:
    last = 0.0

    def report(fraction: float, stage: str) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < 0.5 and fraction < 1.0:
            return
        last = now
        IngestJob.objects.filter(pk=job_id).update(
            progress=max(0.0, min(1.0, fraction)) * PULL_SHARE, stage=stage, heartbeat_at=timezone.now()
        )

    return report


def _finish(run: SyncRun, status: str, **fields: Any) -> None:
    SyncRun.objects.filter(pk=run.pk).update(status=status, finished_at=timezone.now(), **fields)


def _failed(run: SyncRun, job: IngestJob, code: str, message: str, details: dict[str, Any] | None = None) -> None:
    ingest_job_fail(job, code, message, details)
    _finish(run, SyncRunStatus.FAILED, error_code=code, error_message=message)
    audit_event_record(
        action="sync.run_failed",
        actor=run.created_by,
        target=run.sync,
        details={"dataset": run.sync.dataset_name, "run": run.pk, "code": code},
    )


def sync_run_execute(run_id: int) -> SyncRun:
    """Execute one queued run (a run found in any other state is left alone)."""
    claimed = SyncRun.objects.filter(pk=run_id, status=SyncRunStatus.QUEUED).update(status=SyncRunStatus.RUNNING)
    run = SyncRun.objects.select_related("sync", "sync__connection", "sync__study", "ingest").get(pk=run_id)
    if not claimed or run.ingest is None:
        return run
    sync, job = run.sync, run.ingest
    work_dir = Path(tempfile.mkdtemp(prefix=f"sync-{run.pk}-", dir=work_root()))
    try:
        connector = connector_for(sync.connection, progress=_pull_progress(job.pk))
        columns = [[column.name, column.type] for column in connector.columns(sync.source)]
        drift = schema_drift(sync.columns, columns)
        if drift:
            _drifted(run, job, drift)
            return SyncRun.objects.get(pk=run_id)
        options = PullOptions(
            id_column=sync.study.id_column,
            session_column=sync.study.session_column,
            max_bytes=int(config_get("upload_max_bytes", getattr(db_connection, "tenant", None))),
        )
        pulled = connector.pull(sync.source, work_dir / "pull.csv", options)
        SyncRun.objects.filter(pk=run.pk).update(rows=pulled.rows, columns=columns)
        with open(pulled.path, "rb") as handle:
            ingest_job_attach(tenant=db_connection.tenant, job=job, upload=File(handle, name="pull.csv"))  # type: ignore[attr-defined]
    except ConnectorError as exc:
        _failed(run, job, exc.code, exc.message)
        return SyncRun.objects.get(pk=run_id)
    except ApiError as exc:
        _failed(run, job, exc.code, exc.message)
        return SyncRun.objects.get(pk=run_id)
    except Exception:
        logger.exception("sync run %s failed while pulling", run.pk)
        _failed(
            run, job, "internal_error", "The source could not be pulled because of an internal error. It was logged."
        )
        return SyncRun.objects.get(pk=run_id)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return _ingested(run, ingest_job_execute(job.pk), columns)


def _drifted(run: SyncRun, job: IngestJob, drift: dict[str, Any]) -> None:
    """The source's columns changed: nothing is ingested until a steward confirms (the last version stays)."""
    message = "The source's columns changed since the last pull; a steward must confirm the change before it is synced."
    summary = {key: drift[key] for key in ("added", "removed", "retyped")}
    with transaction.atomic():
        run.sync.drift = drift
        run.sync.save(update_fields=["drift"])
        ingest_job_fail(job, "schema_drift", message, summary)
        _finish(run, SyncRunStatus.DRIFT, drift=drift, error_code="schema_drift", error_message=message)
        audit_event_record(
            action="sync.drift_detected",
            actor=run.created_by,
            target=run.sync,
            details={"dataset": run.sync.dataset_name, "run": run.pk, **summary},
        )


def _ingested(run: SyncRun, job: IngestJob, columns: list[list[str]]) -> SyncRun:
    """Record the ingest's outcome on the run and, when it succeeded, on the sync (last good version, columns)."""
    sync = run.sync
    if job.status != IngestStatus.SUCCEEDED or job.version_id is None:
        _finish(run, SyncRunStatus.FAILED, error_code=job.error_code, error_message=job.error_message)
        return SyncRun.objects.get(pk=run.pk)
    unchanged = any(warning.get("code") == "identical_to_latest" for warning in job.warnings or [])
    version = DatasetVersion.objects.get(pk=job.version_id)
    diff: dict[str, Any] = {}
    if not unchanged:
        previous = (
            DatasetVersion.objects.filter(dataset=version.dataset, number__lt=version.number)
            .order_by("-number")
            .first()
        )
        if previous is not None:
            diff = {"from_version": previous.number, "to_version": version.number, "schema": version.diff}
            diff.update(_rows_changed(previous, version, sync.study.merge_key()))
    with transaction.atomic():
        sync.columns = columns
        sync.last_good_version = version
        sync.save(update_fields=["columns", "last_good_version"])
        _finish(run, SyncRunStatus.UNCHANGED if unchanged else SyncRunStatus.SUCCEEDED, version=version, diff=diff)
    return SyncRun.objects.get(pk=run.pk)


def _rows_changed(previous: DatasetVersion, version: DatasetVersion, keys: list[str]) -> dict[str, Any]:
    try:
        old = version_cache_path(previous.parquet_file, previous.parquet_sha256)
        new = version_cache_path(version.parquet_file, version.parquet_sha256)
        return dict(row_diff(old, new, keys, memory_limit=engine_budget().duckdb_memory_limit or "256MB"))
    except Exception:
        logger.exception("row diff of versions %s and %s failed", previous.pk, version.pk)
        return {}
