"""API: studies, datasets, versions and ingests (docs/contract.md, "Studies and datasets")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from access.catalog import CatalogView, catalog_view_for_user
from access.redaction import error_redacted, warnings_redacted
from core.pagination import PagePagination
from datasets.deletion_services import dataset_delete, dataset_version_delete
from datasets.dictionary import dictionary_csv, dictionary_download_record
from datasets.ingest import dataset_slug, delimiter_name
from datasets.models import Dataset, DatasetVersion, IngestJob, Study
from datasets.selectors import (
    dataset_get,
    dataset_list_for_study,
    ingest_get_for_user,
    study_get_for_user,
    study_list_for_user,
    version_get,
)
from datasets.services import UploadTooLarge, ingest_job_create, study_create, study_update
from studies.api_import import ImportAccepted, studies_import
from studies.api_schemas import IngestOut, StudyOut, UploadAccepted, ingest_out, study_out
from tenants.api_auth import principal

router = Router(tags=["studies and datasets"])
# Before /studies/{study}: Django resolves paths in order, so "import" must not be taken for a study's slug.
router.post("/studies/import", response={202: ImportAccepted})(studies_import)
EngineName = Literal["duckdb", "postgres", "spark"]


# A threshold above any study's size hides every count; larger numbers would not fit the database column either.
MAX_SUPPRESSION_THRESHOLD = 1_000_000


class StudyCreateIn(Schema):
    slug: str = Field(max_length=63)
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    id_column: str = Field(min_length=1, max_length=255)
    session_column: str | None = Field(None, max_length=255)
    age_column: str | None = Field(None, max_length=255)
    sex_column: str | None = Field(None, max_length=255)
    site_column: str | None = Field(None, max_length=255)
    composite_id_column: str | None = Field(None, max_length=255)
    engine: EngineName = "duckdb"
    suppression_threshold: int | None = Field(None, ge=1, le=MAX_SUPPRESSION_THRESHOLD)
    allow_duplicate_keys: bool = False
    default_age_min: float | None = Field(None, ge=0)
    default_age_max: float | None = Field(None, ge=0)
    display_rows: int | None = Field(None, ge=1, le=1000)


class StudyPatchIn(Schema):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    id_column: str | None = Field(None, max_length=255)
    session_column: str | None = Field(None, max_length=255)
    age_column: str | None = Field(None, max_length=255)
    sex_column: str | None = Field(None, max_length=255)
    site_column: str | None = Field(None, max_length=255)
    composite_id_column: str | None = Field(None, max_length=255)
    engine: EngineName | None = None
    suppression_threshold: int | None = Field(None, ge=1, le=MAX_SUPPRESSION_THRESHOLD)
    allow_duplicate_keys: bool | None = None
    default_age_min: float | None = Field(None, ge=0)
    default_age_max: float | None = Field(None, ge=0)
    display_rows: int | None = Field(None, ge=1, le=1000)
    discoverable: bool | None = Field(None, description="Listed in the platform's public discovery catalog.")


@router.get("/studies", response=list[StudyOut])
@paginate(PagePagination)
def studies_list(request: HttpRequest) -> Any:
    """Studies of this workspace."""
    caller = principal(request)
    return [study_out(study) for study in study_list_for_user(user=caller.user, tenant=caller.tenant)]


@router.post("/studies", response={201: StudyOut})
def studies_create(request: HttpRequest, payload: StudyCreateIn) -> Status[dict[str, Any]]:
    """Create a study. `session_column` set = longitudinal (merge key id + session)."""
    caller = principal(request)
    fields = payload.dict(exclude={"slug", "name"})
    fields = {key: "" if value is None and key.endswith("_column") else value for key, value in fields.items()}
    study = study_create(
        tenant=caller.tenant, actor=caller.user, slug=payload.slug, name=payload.name, request=request, **fields
    )
    return Status(201, study_out(study))


@router.get("/studies/{study}", response=StudyOut)
def studies_get(request: HttpRequest, study: str) -> dict[str, Any]:
    """One study."""
    caller = principal(request)
    return study_out(study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study))


@router.patch("/studies/{study}", response=StudyOut)
def studies_patch(request: HttpRequest, study: str, payload: StudyPatchIn) -> dict[str, Any]:
    """Change a study. Once data is registered the id column is fixed, the session column may only be dropped
    while no table has it, and age/sex/site/composite id columns may be re-pointed to a demographics column or
    dropped (null): this repairs a study whose key columns do not fit its data (`key_problems`)."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    fields = payload.dict(exclude_unset=True)
    fields = {key: "" if value is None and key.endswith("_column") else value for key, value in fields.items()}
    updated = study_update(tenant=caller.tenant, actor=caller.user, study=target, request=request, **fields)
    return study_out(updated)


@router.post("/studies/{study}/datasets", response={202: UploadAccepted})
def datasets_upload(
    request: HttpRequest,
    study: str,
    file: File[UploadedFile | None] = None,
    name: Form[str | None] = None,
    kind: Form[Literal["demographics", "measure"]] = "measure",
    title: Form[str] = "",
    note: Form[str] = "",
    encoding: Form[str] = "",
    delimiter: Form[str] = "auto",
) -> Status[dict[str, Any]]:
    """Upload a CSV (multipart). A new name creates the dataset, an existing name adds a version. 202 + ingest.

    ``delimiter``: ``auto`` (default: detected among , ; tab | from the first lines), ``,``, ``;``, ``tab`` or
    ``|``; any other value is 422 ``invalid_delimiter``.
    """
    caller = principal(request)
    if getattr(request, "upload_too_large", False):
        raise UploadTooLarge("The file is larger than this workspace's upload limit.")
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    if file is None:
        from core.errors import InvalidInput

        raise InvalidInput("Attach the CSV file as the multipart field 'file'.", code="file_missing")
    dataset_name = name or dataset_slug(file.name or "dataset.csv")
    job = ingest_job_create(
        tenant=caller.tenant,
        actor=caller.user,
        study=target,
        upload=file,
        dataset_name=dataset_name,
        kind=kind,
        title=title,
        note=note,
        encoding=encoding,
        delimiter=delimiter,
        request=request,
    )
    return Status(
        202, {"dataset": dataset_name, "ingest": {"id": job.pk, "status": job.status, "progress": job.progress}}
    )


@router.get("/ingests/{ingest_id}", response=IngestOut)
def ingests_get(request: HttpRequest, ingest_id: int) -> dict[str, Any]:
    """Status and progress of an ingest; a failed ingest registered nothing."""
    caller = principal(request)
    job = ingest_get_for_user(user=caller.user, tenant=caller.tenant, job_id=ingest_id)
    return ingest_out(job, shown=_ingest_shown(caller, job))


class ColumnOut(Schema):
    name: str
    type: str
    missing: int | None = None
    distinct: int | None = None
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    top_values: list[Any] | None = None
    description: str = ""
    sensitivity: str = ""


class VersionOut(Schema):
    number: int
    sha256: str
    row_count: int | None = Field(description="Null below the query level when fewer than k participants.")
    participants: int | None
    sessions: list[str]
    original_filename: str
    size_bytes: int
    encoding: str
    delimiter: str = Field(description=", | ; | tab | | : the separator the file was read with.")
    delimiter_detected: bool
    created_at: datetime
    created_by: str | None
    note: str
    warnings: list[dict[str, Any]]
    diff: dict[str, Any]
    columns: list[ColumnOut]


class DatasetOut(Schema):
    name: str
    kind: str
    title: str
    description: str
    version_count: int
    latest_version: VersionOut | None


def _column_out(dataset: Dataset, column: dict[str, Any]) -> dict[str, Any]:
    """One (already protected: ``CatalogView.profiles``) column profile in the API shape."""
    return {
        **{key: column.get(key) for key in ("name", "type", "missing", "distinct", "min", "max", "mean", "std")},
        "top_values": column.get("top_values"),
        "description": dataset.column_description(column["name"]),
        "sensitivity": dataset.column_sensitivity(column["name"]),
    }


def _version_out(dataset: Dataset, version: DatasetVersion, view: CatalogView) -> dict[str, Any]:
    """A version as the caller may see it: below ``query``, every number under the disclosure rules."""
    total = view.total(dataset.name, version)
    return {
        "number": version.number,
        "sha256": version.sha256,
        "row_count": total.rows,
        "participants": total.participants,
        "sessions": view.sessions(dataset.name, version, dataset.study.session_column or None),
        "original_filename": version.original_filename,
        "size_bytes": version.size_bytes,
        "encoding": version.encoding,
        "delimiter": delimiter_name(version.delimiter),
        "delimiter_detected": version.delimiter_detected,
        "created_at": version.created_at,
        "created_by": version.created_by.email if version.created_by else None,
        "note": version.note,
        "warnings": view.warnings(dataset.name, version),
        "diff": view.diff(dataset.name, version),
        "columns": [_column_out(dataset, column) for column in view.profiles(dataset.name, version)],
    }


def _view_of(caller: Any, study: Study) -> CatalogView:
    return catalog_view_for_user(user=caller.user, tenant=caller.tenant, study=study)


def _ingest_shown(caller: Any, job: IngestJob) -> dict[str, Any]:
    """What the caller may read of an ingest (``CatalogView.ingest``); a study's import that has not registered yet
    is shown in full to the member who started it and without participant ids to everybody else."""
    if job.study is not None:
        return _view_of(caller, job.study).ingest(job)
    full = job.created_by_id == caller.user.pk
    return {
        "full": full,
        "error_message": job.error_message if full or not job.error_code else error_redacted(job.error_code),
        "error_details": dict(job.error_details or {}) if full else {},
        "warnings": list(job.warnings or []) if full else warnings_redacted(job.warnings or []),
    }


def _dataset_out(dataset: Dataset, view: CatalogView) -> dict[str, Any]:
    versions = list(dataset.versions.all())
    return {
        "name": dataset.name,
        "kind": dataset.kind,
        "title": dataset.title,
        "description": dataset.description,
        "version_count": len(versions),
        "latest_version": _version_out(dataset, versions[0], view) if versions else None,
    }


@router.get("/studies/{study}/datasets", response=list[DatasetOut])
@paginate(PagePagination)
def datasets_list(request: HttpRequest, study: str) -> Any:
    """Datasets of a study, each with its latest version."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    view = _view_of(caller, target)
    return [_dataset_out(dataset, view) for dataset in dataset_list_for_study(study=target)]


@router.get("/studies/{study}/datasets/{dataset}", response=DatasetOut)
def datasets_get(request: HttpRequest, study: str, dataset: str) -> dict[str, Any]:
    """One dataset with its latest version's schema and statistics."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    return _dataset_out(dataset_get(study=target, name=dataset), _view_of(caller, target))


@router.get("/studies/{study}/datasets/{dataset}/versions", response=list[VersionOut])
@paginate(PagePagination)
def versions_list(request: HttpRequest, study: str, dataset: str) -> Any:
    """Every version of a dataset, newest first."""
    caller = principal(request)
    target = dataset_get(study=study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study), name=dataset)
    view = _view_of(caller, target.study)
    return [_version_out(target, version, view) for version in target.versions.all()]


@router.get("/studies/{study}/datasets/{dataset}/versions/{number}", response=VersionOut)
def versions_get(request: HttpRequest, study: str, dataset: str, number: int) -> dict[str, Any]:
    """One version, with its diff against the previous one."""
    caller = principal(request)
    target = dataset_get(study=study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study), name=dataset)
    return _version_out(target, version_get(dataset=target, number=number), _view_of(caller, target.study))


@router.get("/studies/{study}/datasets/{dataset}/dictionary.csv", response={200: None})
def dictionary_download(request: HttpRequest, study: str, dataset: str, version: int | None = None) -> HttpResponse:
    """The data dictionary (columns, types, statistics, descriptions, sensitivity) as CSV."""
    caller = principal(request)
    target = dataset_get(study=study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study), name=dataset)
    chosen = version_get(dataset=target, number=version) if version else target.latest_version()
    if chosen is None:
        from core.errors import NotFound

        raise NotFound("This dataset has no version yet.")
    view = _view_of(caller, target.study)
    response = HttpResponse(
        dictionary_csv(target, chosen, view.profiles(target.name, chosen)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{target.name}_v{chosen.number}_dictionary.csv"'
    dictionary_download_record(actor=caller.user, request=request, dataset=target, version=chosen)
    return response


class DeletedOut(Schema):
    dataset: str
    version: int | None = None
    deleted_at: datetime
    deleted_by: str | None
    files_kept_for_versions: list[int]


def _deleted_out(dataset: Dataset, versions: list[DatasetVersion], version: int | None = None) -> dict[str, Any]:
    stamp = versions[0] if version is not None else dataset
    return {
        "dataset": dataset.name,
        "version": version,
        "deleted_at": stamp.deleted_at,
        "deleted_by": stamp.deleted_by.email if stamp.deleted_by else None,
        "files_kept_for_versions": sorted(v.number for v in versions if v.files_removed_at is None),
    }


@router.delete("/studies/{study}/datasets/{dataset}", response=DeletedOut)
def datasets_delete(request: HttpRequest, study: str, dataset: str) -> dict[str, Any]:
    """Delete a dataset (stewards and owners): a tombstone that keeps its audit trail and lineage."""
    caller = principal(request)
    target = dataset_get(study=study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study), name=dataset)
    deleted = dataset_delete(tenant=caller.tenant, actor=caller.user, dataset=target, request=request)
    return _deleted_out(deleted, list(DatasetVersion.all_objects.filter(dataset=deleted)))


@router.delete("/studies/{study}/datasets/{dataset}/versions/{number}", response=DeletedOut)
def versions_delete(request: HttpRequest, study: str, dataset: str, number: int) -> dict[str, Any]:
    """Delete one version (stewards and owners): new queries use the newest remaining one; lineage stays."""
    caller = principal(request)
    target = dataset_get(study=study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study), name=dataset)
    version = version_get(dataset=target, number=number)
    deleted = dataset_version_delete(tenant=caller.tenant, actor=caller.user, version=version, request=request)
    return _deleted_out(target, [deleted], version=deleted.number)
