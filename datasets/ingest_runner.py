"""Runs an IngestJob: staged upload -> Django-free pipeline -> version registered atomically (or nothing at all)."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import connection, connections, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.services import audit_event_record
from core.budgets import engine_budget, process_role, setting_bytes
from core.config import config_get
from core.errors import STORAGE_FULL_MESSAGE, disk_full
from core.reconnect import connection_lost, with_reconnect
from core.sent_markers import sent_missing
from core.work_guard import Reason, WorkGuard
from datasets.events import dataset_registered
from datasets.ingest import IngestError, IngestOptions, IngestResult, KeyReading, ingest_csv, schema_diff
from datasets.models import Dataset, DatasetKind, DatasetVersion, IngestJob, IngestStatus, Study
from datasets.storage import (
    copy_local_into_cache,
    file_sha256,
    local_path_or_none,
    storage_copy_to_local,
    storage_delete,
    storage_save,
    version_cache_path,
    version_names,
    work_root,
)
from datasets.study_registration import new_study_create, new_study_keys
from tenants.suspension import WORK_OF_SUSPENDED_WORKSPACE, workspace_frozen

logger = logging.getLogger(__name__)
PROGRESS_INTERVAL_SECONDS = 0.5


def _fail(job: IngestJob, code: str, message: str, details: dict[str, Any] | None = None) -> None:
    """Fail a job that has not finished yet (once: a job that already ended keeps its outcome)."""
    updated = IngestJob.objects.filter(pk=job.pk, status__in=[IngestStatus.QUEUED, IngestStatus.RUNNING]).update(
        status=IngestStatus.FAILED,
        error_code=code,
        error_message=message,
        error_details=details or {},
        finished_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    if not updated:
        return
    audit_event_record(
        action="ingest.failed",
        target=job,
        actor=job.created_by,
        details={"dataset": job.dataset_name, "code": code, "message": message},
    )


def ingest_job_fail(job: IngestJob, code: str, message: str, details: dict[str, Any] | None = None) -> None:
    """Fail a job before its pipeline ran (a connector could not fetch its data): nothing is registered."""
    storage_delete([job.staged_file])
    _fail(job, code, message, details)


WORKER_LOST = "The ingest was interrupted (the worker stopped). Upload the file again."
DATABASE_LOST = "The database restarted while the file was processed; nothing was registered. Upload it again."
RESOURCE_LIMIT = (
    "Processing the file needed more memory than a worker may use; nothing was registered. Split the file or ask "
    "an operator to raise the worker's memory budget."
)


def _progress_writer(job_id: int, guard: WorkGuard | None = None) -> Any:
    """Progress into the job row; raises once the guard asked the work to stop (the pipeline then interrupts its
    DuckDB statement)."""
    last = 0.0

    def report(fraction: float, stage: str) -> None:
        nonlocal last
        if guard is not None and guard.reason == "resource_limit":
            raise IngestError("resource_limit", RESOURCE_LIMIT)
        now = time.monotonic()
        if now - last < PROGRESS_INTERVAL_SECONDS and fraction < 1.0:
            return
        last = now
        IngestJob.objects.filter(pk=job_id).update(
            progress=max(0.0, min(1.0, fraction)) * 0.95, stage=stage, heartbeat_at=timezone.now()
        )

    return report


def _required_columns(study: Study) -> tuple[tuple[str, str], ...]:
    """The demographics table must also hold the study's age, sex and site columns (queries read them there)."""
    roles = (("age", study.age_column), ("sex", study.sex_column), ("site", study.site_column))
    return tuple((role, column) for role, column in roles if column)


def _options(job: IngestJob, study: Study) -> IngestOptions:
    budget = engine_budget()
    known_ids: Path | None = None
    if job.kind == DatasetKind.MEASURE and study.demographics is not None:
        demographics = study.demographics.latest_version()
        if demographics is not None:
            known_ids = version_cache_path(demographics.parquet_file, demographics.parquet_sha256)
    return IngestOptions(
        id_column=study.id_column,
        session_column=study.session_column or None,
        required_columns=_required_columns(study) if job.kind == DatasetKind.DEMOGRAPHICS else (),
        composite_column=study.composite_id_column or None,
        encoding=job.encoding or None,
        delimiter=job.delimiter or None,
        max_bytes=config_get("upload_max_bytes", study_tenant()),
        max_columns=config_get("max_columns", study_tenant()),
        duckdb_threads=budget.threads,
        duckdb_memory_limit=budget.duckdb_memory_limit,
        allow_duplicate_keys=study.allow_duplicate_keys and job.kind == DatasetKind.MEASURE,
        known_ids_parquet=known_ids,
        known_ids_column=study.id_column,
    )


def _new_study_options(job: IngestJob, reading: KeyReading) -> IngestOptions:
    """Options of a new study's demographics file, with the key columns its header provides."""
    budget = engine_budget()
    return IngestOptions(
        id_column=reading.keys.id_column,
        session_column=reading.keys.session_column,
        composite_column=reading.keys.composite_id_column,
        encoding=job.encoding or None,
        delimiter=job.delimiter or None,
        max_bytes=config_get("upload_max_bytes", study_tenant()),
        max_columns=config_get("max_columns", study_tenant()),
        duckdb_threads=budget.threads,
        duckdb_memory_limit=budget.duckdb_memory_limit,
    )


def study_tenant() -> Any:
    """The tenant of the current connection (for per-tenant limits inside workers)."""
    from django.db import connection

    return getattr(connection, "tenant", None)


def ingest_job_execute(job_id: int) -> IngestJob:
    """Execute one queued job. Safe to call twice: a job found already running was interrupted and is failed."""
    job = IngestJob.objects.select_related("study", "study__demographics").get(pk=job_id)
    if job.status == IngestStatus.RUNNING:
        _fail(job, "worker_lost", WORKER_LOST)
        storage_delete([job.staged_file])
        return IngestJob.objects.get(pk=job_id)
    if job.status != IngestStatus.QUEUED:
        return job
    started = timezone.now()
    claimed = IngestJob.objects.filter(pk=job.pk, status=IngestStatus.QUEUED).update(
        status=IngestStatus.RUNNING, started_at=started, heartbeat_at=started, stage="starting"
    )
    if not claimed:
        return IngestJob.objects.get(pk=job_id)
    if workspace_frozen(study_tenant()):  # suspended since the upload was queued: nothing is read or kept
        _fail(job, "workspace_suspended", WORK_OF_SUSPENDED_WORKSPACE)
        storage_delete([job.staged_file])
        return IngestJob.objects.get(pk=job_id)
    work_dir = Path(tempfile.mkdtemp(prefix=f"ingest-{job.pk}-", dir=work_root()))
    guard = _guard(job, work_dir)
    failure: tuple[str, str, dict[str, Any] | None] | None = None
    try:
        with guard:
            source = local_path_or_none(job.staged_file)
            if source is None or not source.exists():
                source = storage_copy_to_local(job.staged_file, work_dir / "upload.csv")
            reading: KeyReading | None = None
            if job.study is None:  # a new study: its key columns are settled from this file's header
                reading = new_study_keys(job, source, max_columns=config_get("max_columns", study_tenant()))
                options = _new_study_options(job, reading)
            else:
                options = _options(job, job.study)
            result = ingest_csv(source, work_dir=work_dir, options=options, progress=_progress_writer(job.pk, guard))
            if guard.reason == "resource_limit":
                raise IngestError("resource_limit", RESOURCE_LIMIT)
            _register(job, source, result, reading)
    except IngestError as exc:
        failure = (exc.code, exc.message, exc.details)
    except MemoryError:
        logger.error("ingest %s hit the worker's address-space ceiling", job.pk)
        failure = ("resource_limit", RESOURCE_LIMIT, None)
    except Exception as exc:
        if disk_full(exc):
            logger.error("ingest %s: storage full", job.pk)
            failure = ("storage_full", f"{STORAGE_FULL_MESSAGE} Upload the file again once space is free.", None)
        elif connection_lost(exc):
            logger.error("ingest %s: database connection lost", job.pk)
            failure = ("database_unavailable", DATABASE_LOST, None)
        else:
            logger.exception("ingest %s failed unexpectedly", job.pk)
            failure = (
                "internal_error",
                "The file could not be processed because of an internal error. It was logged.",
                None,
            )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        storage_delete([job.staged_file])
    if failure is not None:  # files first, then the outcome (recorded even across a database restart)
        with_reconnect(lambda: _fail(job, *failure))
    return with_reconnect(lambda: IngestJob.objects.get(pk=job_id))


def _guard(job: IngestJob, work_dir: Path) -> WorkGuard:
    """Keeps the ingest inside the worker's memory budget (ingests have no time limit: files can be large)."""
    tenant = getattr(connection, "tenant", None)

    def killed(reason: Reason) -> None:
        with tenant_context(tenant):
            if IngestJob.objects.filter(pk=job.pk, status=IngestStatus.RUNNING).exists():
                _fail(job, "resource_limit", RESOURCE_LIMIT)
            storage_delete([job.staged_file])
        shutil.rmtree(work_dir, ignore_errors=True)

    return WorkGuard(
        name=f"ingest-{job.pk}",
        interrupt=lambda reason: None,  # the progress callback raises; the pipeline interrupts DuckDB
        on_kill=killed,
        grace_seconds=float(config_get("engine_kill_grace_seconds")),
        memory_limit_bytes=setting_bytes("worker_memory_limit") if process_role() == "worker" else None,
        on_exit=connections.close_all,
    )


def _register(job: IngestJob, source: Path, result: IngestResult, reading: KeyReading | None = None) -> None:
    """Store the files and create the version in one transaction; remove them if anything fails before the commit.

    A new-study job (``reading`` given) creates its study in the same transaction, so nothing is half-created.
    """
    stored: list[str] = []
    try:
        with transaction.atomic():
            if reading is not None:
                study = new_study_create(job, reading)
            else:
                # NO KEY UPDATE serializes registrations of one study without blocking rows that merely reference
                # it (a new upload's IngestJob insert takes KEY SHARE on the study row).
                study = Study.objects.select_for_update(no_key=True).get(pk=job.study_id or 0)
            dataset = Dataset.objects.filter(study=study, name=job.dataset_name).first()
            created = dataset is None
            if dataset is None:
                dataset = Dataset(study=study, name=job.dataset_name, kind=job.kind, title=job.title)
                dataset._history_user = job.created_by  # type: ignore[attr-defined]
                dataset.save()
                dataset_registered.send(sender=Dataset, dataset=dataset)  # access: study-wide grants reach it
            latest = dataset.versions.order_by("-number").first()
            warnings = [*(w.as_dict() for w in (reading.warnings if reading else ())), *_warnings(result)]
            if latest is not None and latest.sha256 == result.sha256:
                _succeed(job, latest, [*warnings, _identical_warning(latest)], result.delimiter)
                return
            newest = DatasetVersion.all_objects.filter(dataset=dataset).order_by("-number").first()
            number = (newest.number if newest else 0) + 1  # deleted versions keep their numbers
            original_name, parquet_name = version_names(study.slug, dataset.name, number)
            with open(source, "rb") as handle:
                stored.append(storage_save(original_name, handle, replace_orphan=True))
            with open(result.parquet_path, "rb") as handle:
                stored.append(storage_save(parquet_name, handle, replace_orphan=True))
            parquet_sha = file_sha256(result.parquet_path)
            columns = [column.as_dict() for column in result.columns]
            diff = (
                schema_diff(_named(latest.columns), result.columns, latest.row_count, result.row_count).as_dict()
                if latest
                else {}
            )
            version = DatasetVersion.objects.create(
                dataset=dataset,
                number=number,
                sha256=result.sha256,
                parquet_sha256=parquet_sha,
                original_filename=job.original_filename,
                original_file=original_name,
                parquet_file=parquet_name,
                size_bytes=result.size_bytes,
                parquet_size_bytes=result.parquet_path.stat().st_size,
                encoding=result.encoding,
                delimiter=result.delimiter,
                delimiter_detected=result.delimiter_detected,
                row_count=result.row_count,
                participants=result.participants or 0,
                sessions=list(result.sessions),
                columns=columns,
                warnings=warnings,
                diff=diff,
                note=job.note,
                created_by=job.created_by,
            )
            if job.title and dataset.title != job.title:
                dataset.title = job.title
                dataset._history_user = job.created_by  # type: ignore[attr-defined]
                dataset.save(update_fields=["title"])
            if dataset.kind == DatasetKind.DEMOGRAPHICS and study.demographics_id is None:
                study.demographics = dataset
                study._history_user = job.created_by  # type: ignore[attr-defined]
                study.save(update_fields=["demographics"])
            audit_event_record(
                action="dataset_version.created",
                actor=job.created_by,
                target=version,
                details={
                    "study": study.slug,
                    "dataset": dataset.name,
                    "version": number,
                    "sha256": result.sha256,
                    "rows": result.row_count,
                    "new_dataset": created,
                },
            )
            _succeed(job, version, warnings, result.delimiter)
    except Exception:
        storage_delete(stored)
        raise
    # Committed: nothing from here on may remove the version's files (a cache that cannot take them is a miss).
    copy_local_into_cache(result.parquet_path, parquet_sha)


def _warnings(result: IngestResult) -> list[dict[str, Any]]:
    return [warning.as_dict() for warning in result.warnings]


@dataclass(frozen=True)
class _Column:
    name: str
    type: str


def _named(columns: list[dict[str, Any]]) -> list[_Column]:
    """Stored column profiles as objects with ``name`` and ``type`` (what schema_diff compares)."""
    return [_Column(name=column["name"], type=column["type"]) for column in columns]


def _identical_warning(version: DatasetVersion) -> dict[str, Any]:
    return {
        "code": "identical_to_latest",
        "message": f"The file is identical to version {version.number}; no new version was created.",
        "details": {"version": version.number},
    }


def _succeed(job: IngestJob, version: DatasetVersion, warnings: list[dict[str, Any]], delimiter: str) -> None:
    now = timezone.now()
    IngestJob.objects.filter(pk=job.pk).update(
        status=IngestStatus.SUCCEEDED,
        delimiter_used=delimiter,
        progress=1.0,
        stage="done",
        version=version,
        warnings=warnings,
        finished_at=now,
        heartbeat_at=now,
    )


def ingest_job_lost(job_id: int) -> None:
    """The worker running ``job_id`` died: fail the job (if it was still running) and remove its files."""
    job = IngestJob.objects.filter(pk=job_id, status=IngestStatus.RUNNING).first()
    if job is None:
        return
    storage_delete([job.staged_file])
    for leftover in work_root().glob(f"ingest-{job.pk}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    _fail(job, "worker_lost", WORKER_LOST)


def ingest_jobs_resend(*, older_than: timedelta) -> int:
    """Send again the queued jobs (current schema) whose queue message was lost with Redis; returns how many."""
    from datasets.services import ingest_enqueue

    waiting = list(
        IngestJob.objects.filter(status=IngestStatus.QUEUED, created_at__lt=timezone.now() - older_than)
        .exclude(staged_file="")
        .order_by("created_at")
        .values_list("pk", flat=True)
    )
    lost = sent_missing("ingest", waiting)
    for job_id in lost:
        logger.warning("ingest %s lost its queue message; sending it again", job_id)
        ingest_enqueue(job_id)
    return len(lost)


def ingest_jobs_reap(*, stale_after: timedelta | None = None) -> int:
    """Fail running jobs whose worker stopped sending heartbeats (never leave a job 'running')."""
    cutoff = timezone.now() - (timedelta(minutes=5) if stale_after is None else stale_after)
    count = 0
    for job in IngestJob.objects.filter(status=IngestStatus.RUNNING, heartbeat_at__lt=cutoff):
        _fail(job, "worker_lost", WORKER_LOST)
        storage_delete([job.staged_file])
        for leftover in work_root().glob(f"ingest-{job.pk}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        count += 1
    return count
