"""Writes for studies, datasets and ingest jobs. Data-changing actions need the steward role or above."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.http import HttpRequest

from audit.services import audit_event_record
from core.config import config_get
from core.errors import ApiError, Conflict, InvalidInput
from core.sent_markers import sent_mark
from datasets.ingest import delimiter_from_name, delimiter_name
from datasets.ingest.encodings import EncodingRefused, text_encoding
from datasets.models import (
    NAME_VALIDATOR,
    STUDY_SLUG_VALIDATOR,
    Dataset,
    DatasetKind,
    Engine,
    IngestJob,
    IngestStatus,
    Study,
)
from datasets.storage import staging_name, storage_delete, storage_save, storage_used_bytes
from datasets.study_keys import study_key_changes_check, study_key_problems
from datasets.study_origins import study_writable_require
from tenants.models import Tenant
from tenants.quotas import Quota, quota_require
from tenants.role_checks import role_require
from tenants.roles import Role

logger = logging.getLogger(__name__)

RESERVED_STUDY_SLUGS = {"new", "runs", "saved", "import"}  # would collide with page or API paths
KEY_FIELDS = ("id_column", "session_column", "age_column", "sex_column", "site_column", "composite_id_column")
BUILDER_DEFAULTS = ("default_age_min", "default_age_max", "display_rows")
STUDY_EDITABLE = (
    "name",
    "description",
    *KEY_FIELDS,
    "engine",
    "suppression_threshold",
    "allow_duplicate_keys",
    "discoverable",
    *BUILDER_DEFAULTS,
)
MAX_DISPLAY_ROWS = 1000
ENCODING_MAX_CHARS = IngestJob._meta.get_field("encoding").max_length or 32  # a job's declared encoding


class UploadTooLarge(ApiError):
    """The upload exceeds the tenant's size limit or storage quota."""

    def __init__(self, message: str, code: str = "file_too_large") -> None:
        super().__init__(413, code, message)


def _role_check(actor: Any, tenant: Tenant, action: str) -> None:
    """Data-changing actions need steward or above; ``actor=None`` means a trusted system action (CLI)."""
    if actor is not None:
        role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action=action)


def _validate(validator: Any, value: str, what: str, code: str) -> None:
    try:
        validator(value)
    except ValidationError as exc:
        raise InvalidInput(f"Invalid {what} {value!r}: {exc.messages[0]}", code=code) from exc


def study_fields_clean(fields: dict[str, Any], tenant: Tenant) -> dict[str, Any]:
    """Check study settings (422 naming the field); key columns are stripped text, blank = not used."""
    cleaned: dict[str, Any] = {}
    for key, value in fields.items():
        if key not in STUDY_EDITABLE:
            raise InvalidInput(f"{key} cannot be set on a study.", code="invalid_field")
        if value is None and key not in KEY_FIELDS and not Study._meta.get_field(key).null:
            raise InvalidInput(f"{key} cannot be null; leave it out to keep the current value.", code="invalid_field")
        if key in KEY_FIELDS:
            value = (value or "").strip()
            if len(value) > 255:
                raise InvalidInput(f"{key} is longer than 255 characters.", code="invalid_column")
        if key == "name" and not (value or "").strip():
            raise InvalidInput("A study needs a name.", code="invalid_name")
        if key == "engine" and value not in Engine.values:
            raise InvalidInput(f"engine must be one of {', '.join(Engine.values)}.", code="invalid_engine")
        if key == "suppression_threshold" and value is not None and (not isinstance(value, int) or value < 1):
            raise InvalidInput("suppression_threshold must be a whole number of at least 1.", code="invalid_threshold")
        if key == "suppression_threshold" and value is not None:
            floor = int(config_get("suppression_threshold", tenant))
            if value < floor:  # a study may raise the workspace's floor, never lower it (owners set the floor)
                raise InvalidInput(
                    f"A study's small-cell threshold cannot be below the workspace's ({floor}); "
                    "only an owner can change the workspace setting.",
                    code="threshold_below_workspace",
                    details={"workspace_threshold": floor},
                )
        if key in BUILDER_DEFAULTS:
            value = _builder_default(key, value)
        cleaned[key] = value
    keys = [cleaned.get(k) for k in KEY_FIELDS if cleaned.get(k)]
    if len(keys) != len(set(keys)):
        raise InvalidInput("Each key column must be a different column.", code="duplicate_key_columns")
    low, high = cleaned.get("default_age_min"), cleaned.get("default_age_max")
    if low is not None and high is not None and low > high:
        raise InvalidInput("default_age_min must not be above default_age_max.", code="invalid_age_range")
    return cleaned


def _builder_default(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key == "display_rows":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DISPLAY_ROWS:
            raise InvalidInput(
                f"display_rows must be a whole number from 1 to {MAX_DISPLAY_ROWS}.", code="invalid_display_rows"
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidInput(f"{key} must be a number of years (0 or more).", code="invalid_age_range")
    return float(value)


def study_create(
    *, tenant: Tenant, actor: Any, slug: str, name: str, request: HttpRequest | None = None, **fields: Any
) -> Study:
    """Create a study (stewards and owners; ``actor=None`` is a trusted system action such as a CLI command).

    Key columns may be confirmed later, from the demographics header.
    """
    _role_check(actor, tenant, "create studies")
    _validate(STUDY_SLUG_VALIDATOR, slug, "study slug", "invalid_slug")
    if slug in RESERVED_STUDY_SLUGS:
        raise InvalidInput(f"{slug!r} is reserved; choose another short name.", code="invalid_slug")
    cleaned = study_fields_clean({"name": name, **fields}, tenant)
    if cleaned.get("composite_id_column") and not cleaned.get("session_column"):
        raise InvalidInput(
            "A composite id column needs a session column: it is derived from id + session.",
            code="composite_needs_session",
        )
    if Study.objects.filter(slug=slug).exists():
        raise Conflict(f"A study {slug!r} already exists.", code="study_exists")
    if study_import_pending(slug):
        raise Conflict(f"A study {slug!r} is being imported; choose another short name.", code="study_exists")
    with transaction.atomic():
        study = Study.objects.create(slug=slug, created_by=actor, **cleaned)
        audit_event_record(action="study.created", actor=actor, request=request, target=study, details=cleaned)
    return study


def study_import_pending(slug: str) -> bool:
    """True while an import that creates study ``slug`` is queued or running."""
    unfinished = IngestJob.objects.filter(study__isnull=True, status__in=[IngestStatus.QUEUED, IngestStatus.RUNNING])
    return unfinished.filter(new_study__slug=slug).exists()


def study_update(
    *, tenant: Tenant, actor: Any, study: Study, request: HttpRequest | None = None, **fields: Any
) -> Study:
    """Change a study's settings. Once data is registered, key columns change only as far as it allows
    (:func:`datasets.study_keys.study_key_changes_check`): this is also how a steward repairs a study whose key
    columns do not fit its data (audited ``study.updated`` with ``repaired``)."""
    _role_check(actor, tenant, "change studies")
    study_writable_require(study)
    cleaned = study_fields_clean(fields, tenant)
    changed = {key: value for key, value in cleaned.items() if getattr(study, key) != value}
    if not changed:
        return study
    keys_changed = {key: value for key, value in changed.items() if key in KEY_FIELDS}
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)  # no registration slips in between
        if keys_changed:
            merged = [value for value in ({**study.key_columns(), **keys_changed}).values() if value]
            if len(merged) != len(set(merged)):
                raise InvalidInput("Each key column must be a different column.", code="duplicate_key_columns")
            study_key_changes_check(study, keys_changed)
        broken = {problem.key for problem in study_key_problems(study)}
        before = {key: getattr(study, key) for key in changed}
        for key, value in changed.items():
            setattr(study, key, value)
        study.save()
        details: dict[str, Any] = {"from": before, "to": changed}
        repaired = sorted(broken & set(keys_changed))
        if repaired:
            details["repaired"] = repaired  # key columns that did not fit the data and now do (or are dropped)
        audit_event_record(action="study.updated", actor=actor, request=request, target=study, details=details)
    return study


def study_keys_missing(study: Study, header: list[str]) -> list[str]:
    """Configured key columns (id, session) absent from a header."""
    return [column for column in study.merge_key() if column and column not in header]


def delimiter_clean(value: str | None) -> str:
    """A requested delimiter by its outside name (``auto``/blank, ``,``, ``;``, ``tab``, ``|``) -> the stored
    character, blank meaning "detect"; anything else is ``InvalidInput(invalid_delimiter)``."""
    try:
        return delimiter_from_name(value) or ""
    except ValueError as exc:
        raise InvalidInput(str(exc), code="invalid_delimiter", details={"delimiter": (value or "")[:20]}) from None


def encoding_clean(value: str | None) -> str:
    """A declared encoding as given (blank = UTF-8; the codec's own name when the given one is longer than a job
    stores); one that is unknown or no text encoding (``rot13``, ``base64``, ``zlib``...) is
    ``InvalidInput(invalid_encoding)``, naming the usual ones."""
    given = (value or "").strip()
    if not given:
        return ""
    try:
        canonical = text_encoding(given)
    except EncodingRefused as exc:
        raise InvalidInput(exc.message, code="invalid_encoding", details={"encoding": given[:20]}) from None
    return given if len(given) <= ENCODING_MAX_CHARS else canonical


def ingest_job_create(
    *,
    tenant: Tenant,
    actor: Any,
    study: Study,
    upload: UploadedFile,
    dataset_name: str,
    kind: str,
    title: str = "",
    note: str = "",
    encoding: str = "",
    delimiter: str = "auto",
    request: HttpRequest | None = None,
    enqueue: bool = True,
) -> IngestJob:
    """Stage an upload and queue its ingest (202). Nothing is registered until the ingest succeeds.

    ``delimiter``: ``auto`` (default: detected from the first lines), ``,``, ``;``, ``tab`` or ``|``.
    """
    _role_check(actor, tenant, "upload data")
    separator = delimiter_clean(delimiter)
    encoding = encoding_clean(encoding)
    ingest_target_check(study=study, dataset_name=dataset_name, kind=kind)
    return ingest_job_stage(
        tenant=tenant,
        actor=actor,
        study=study,
        upload=upload,
        dataset_name=dataset_name,
        kind=kind,
        title=title,
        note=note,
        encoding=encoding,
        separator=separator,
        request=request,
        enqueue=enqueue,
    )


def ingest_target_check(*, study: Study, dataset_name: str, kind: str, now: bool = True) -> None:
    """Whether a new version of ``dataset_name`` (``kind``) may be ingested into ``study`` (422/409 otherwise);
    ``now=False`` (a sync set up for later): the demographics table may still be missing."""
    study_writable_require(study)
    _validate(NAME_VALIDATOR, dataset_name, "dataset name", "invalid_name")
    if kind not in DatasetKind.values:
        raise InvalidInput(f"kind must be one of {', '.join(DatasetKind.values)}.", code="invalid_kind")
    study.refresh_from_db()
    if not study.keys_confirmed:
        raise Conflict(
            "Confirm the study's key columns (at least the id column) before uploading.", code="keys_missing"
        )
    if Dataset.all_objects.filter(study=study, name=dataset_name, deleted_at__isnull=False).exists():
        raise Conflict(
            f"{dataset_name!r} is the name of a deleted dataset (kept for lineage); choose another name.",
            code="dataset_deleted",
        )
    existing = Dataset.objects.filter(study=study, name=dataset_name).first()
    if existing is not None and existing.kind != kind:
        raise Conflict(
            f"{dataset_name!r} is a {existing.kind} dataset; upload it as {existing.kind}.", code="kind_mismatch"
        )
    if now and kind == DatasetKind.MEASURE and study.demographics_id is None:
        raise Conflict("Upload the demographics table before measure tables.", code="demographics_missing")


def ingest_job_stage(
    *,
    tenant: Tenant,
    actor: Any,
    study: Study | None,
    upload: UploadedFile,
    dataset_name: str,
    kind: str,
    separator: str,
    title: str = "",
    note: str = "",
    encoding: str = "",
    new_study: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
    enqueue: bool = True,
) -> IngestJob:
    """Check the upload against the tenant's limits, store it and create its queued job (audited).

    The caller has checked everything else. ``study=None`` with ``new_study``: the job creates that study when it
    registers the version (see :mod:`datasets.import_services`).
    """
    limit = config_get("upload_max_bytes", tenant)
    if upload.size is not None and upload.size > limit:
        raise UploadTooLarge(f"The file is larger than this workspace's upload limit of {limit:,} bytes.")
    if upload.size is not None:  # the original and about as much again in Parquet
        quota_require(tenant=tenant, quota=Quota.STORAGE_BYTES, used=storage_used_bytes(), requested=2 * upload.size)
    staged = ""
    try:
        with transaction.atomic():
            job = IngestJob.objects.create(
                study=study,
                new_study=new_study or {},
                dataset_name=dataset_name,
                kind=kind,
                title=title.strip()[:200],
                note=note.strip(),
                original_filename=(upload.name or "upload.csv")[:255],
                size_bytes=upload.size or 0,
                encoding=encoding.strip(),
                delimiter=separator,
                created_by=actor,
            )
            staged = storage_save(staging_name(job.pk, dataset_name), upload)
            job.staged_file = staged
            job.save(update_fields=["staged_file"])
            details: dict[str, Any] = {
                "study": job.study_slug,
                "dataset": dataset_name,
                "filename": job.original_filename,
                "delimiter": delimiter_name(separator or None),
            }
            if study is None:
                details["new_study"] = True
            audit_event_record(action="ingest.queued", actor=actor, request=request, target=job, details=details)
            if enqueue:
                transaction.on_commit(lambda: ingest_enqueue(job.pk))
    except Exception:
        storage_delete([staged])
        raise
    return job


def ingest_file_sync(
    *,
    study: Study,
    path: Path,
    dataset_name: str,
    kind: str,
    title: str = "",
    note: str = "",
    encoding: str = "",
    delimiter: str = "auto",
    actor: Any = None,
) -> IngestJob:
    """Ingest a local file in this process (CLI import, demo seeding): same validation and registration path."""
    from datasets.ingest_runner import ingest_job_execute

    tenant = connection.tenant  # type: ignore[attr-defined]
    with open(path, "rb") as handle:
        upload = File(handle, name=path.name)
        job = ingest_job_create(
            tenant=tenant,
            actor=actor,
            study=study,
            upload=upload,  # type: ignore[arg-type]
            dataset_name=dataset_name,
            kind=kind,
            title=title,
            note=note,
            encoding=encoding,
            delimiter=delimiter,
            enqueue=False,
        )
    return ingest_job_execute(job.pk)


def ingest_enqueue(job_id: int) -> None:
    """Send an ingest job to the ``ingest`` queue (its schema travels with it)."""
    from datasets.tasks import ingest_run

    ingest_run.apply_async(args=(job_id,), kwargs={"schema": str(connection.schema_name)})  # type: ignore[attr-defined]
    sent_mark("ingest", job_id)  # lets the reaper send it again if Redis loses the message


def ingest_job_reserve(
    *,
    tenant: Tenant,
    actor: Any,
    study: Study,
    dataset_name: str,
    kind: str,
    original_filename: str,
    note: str = "",
    request: HttpRequest | None = None,
) -> IngestJob:
    """A queued ingest whose file is still being fetched (a connector's pull): the same checks as an upload, the
    file comes later through :func:`ingest_job_attach`. Audited like an upload."""
    _role_check(actor, tenant, "add data")
    ingest_target_check(study=study, dataset_name=dataset_name, kind=kind)
    with transaction.atomic():
        job = IngestJob.objects.create(
            study=study,
            dataset_name=dataset_name,
            kind=kind,
            note=note.strip(),
            original_filename=original_filename[:255],
            stage="fetching",
            created_by=actor,
        )
        details = {"study": study.slug, "dataset": dataset_name, "filename": job.original_filename}
        audit_event_record(action="ingest.queued", actor=actor, request=request, target=job, details=details)
    return job


def ingest_job_attach(*, tenant: Tenant, job: IngestJob, upload: File) -> IngestJob:  # type: ignore[type-arg]
    """Store the fetched file of a reserved job (the workspace's size limit and quota apply, 413 otherwise)."""
    limit = config_get("upload_max_bytes", tenant)
    if upload.size is not None and upload.size > limit:
        raise UploadTooLarge(f"The data is larger than this workspace's upload limit of {limit:,} bytes.")
    quota = config_get("storage_quota_bytes", tenant)
    if upload.size is not None and storage_used_bytes() + 2 * upload.size > quota:
        raise UploadTooLarge("This workspace's storage quota would be exceeded.", code="storage_quota_exceeded")
    staged = storage_save(staging_name(job.pk, job.dataset_name), upload)
    try:
        IngestJob.objects.filter(pk=job.pk).update(staged_file=staged, size_bytes=upload.size or 0)
    except Exception:
        storage_delete([staged])
        raise
    job.staged_file = staged
    return job
