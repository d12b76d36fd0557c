"""Response shapes of the studies and ingests API, shared by :mod:`studies.api` and :mod:`studies.api_import`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from datasets.ingest import delimiter_name
from datasets.models import IngestJob, Study
from datasets.study_keys import study_key_problems
from datasets.study_origins import study_origin


class KeyProblemOut(Schema):
    key: str
    column: str
    dataset: str
    candidates: list[str]


class ContributorOut(Schema):
    tenant: str
    name: str


class StudyOut(Schema):
    slug: str
    name: str
    description: str
    id_column: str | None
    session_column: str | None
    age_column: str | None
    sex_column: str | None
    site_column: str | None
    composite_id_column: str | None = Field(
        None, description="BDT's derived <id>_<session> column: checked on upload, never a data column."
    )
    longitudinal: bool
    engine: str
    demographics: str | None
    suppression_threshold: int | None
    allow_duplicate_keys: bool
    default_age_min: float | None = Field(None, description="Builder default: lower age bound.")
    default_age_max: float | None = Field(None, description="Builder default: upper age bound.")
    display_rows: int | None = Field(None, description="Builder default: result rows shown per preview page.")
    key_problems: list[KeyProblemOut] = Field(
        default_factory=list,
        description="Key columns the data does not have (queries answer 409 study_keys_invalid until repaired).",
    )
    discoverable: bool = Field(False, description="Listed in the platform's public discovery catalog.")
    created_at: datetime
    contributed_by: ContributorOut | None = Field(
        None, description="Set when another workspace contributes this study (its data is read from there)."
    )


def study_out(study: Study) -> dict[str, Any]:
    """A study as the API shows it, with the key columns its data lacks (if any)."""
    return {
        "slug": study.slug,
        "name": study.name,
        "description": study.description,
        "id_column": study.id_column or None,
        "session_column": study.session_column or None,
        "age_column": study.age_column or None,
        "sex_column": study.sex_column or None,
        "site_column": study.site_column or None,
        "composite_id_column": study.composite_id_column or None,
        "longitudinal": study.is_longitudinal,
        "engine": study.engine,
        "demographics": study.demographics.name if study.demographics else None,
        "suppression_threshold": study.suppression_threshold,
        "allow_duplicate_keys": study.allow_duplicate_keys,
        "default_age_min": study.default_age_min,
        "default_age_max": study.default_age_max,
        "display_rows": study.display_rows,
        "key_problems": [problem.as_dict() for problem in study_key_problems(study)],
        "discoverable": study.discoverable,
        "created_at": study.created_at,
        "contributed_by": _contributor(study),
    }


def _contributor(study: Study) -> dict[str, str] | None:
    origin = study_origin(study)
    return {"tenant": origin.tenant_slug, "name": origin.tenant_name} if origin is not None else None


class IngestRef(Schema):
    id: int
    status: str
    progress: float


class UploadAccepted(Schema):
    dataset: str
    ingest: IngestRef


class ErrorOut(Schema):
    code: str
    message: str


class IngestOut(Schema):
    id: int
    study: str = Field(description="The study's slug (for an import, the study it creates once it succeeds).")
    new_study: bool = Field(False, description="True for an import that creates its study when it succeeds.")
    status: str
    progress: float
    stage: str
    error: ErrorOut | None
    error_details: dict[str, Any]
    dataset: str
    version: int | None
    warnings: list[dict[str, Any]]
    delimiter_requested: str = Field(description="auto | , | ; | tab | | (as given with the upload).")
    delimiter: str | None = Field(description="The separator the file was read with (null until it succeeded).")
    created_at: datetime
    finished_at: datetime | None


def ingest_out(job: IngestJob, *, shown: dict[str, Any] | None = None) -> dict[str, Any]:
    """An ingest job's status, progress, result or error; ``shown`` (``access.catalog.CatalogView.ingest``) is what
    the caller may read of its messages (without participant ids below the query level), else everything."""
    if shown is None:
        shown = {"error_message": job.error_message, "error_details": job.error_details, "warnings": job.warnings}
    return {
        "id": job.pk,
        "study": job.study_slug,
        "new_study": bool(job.new_study),
        "status": job.status,
        "progress": round(job.progress, 4),
        "stage": job.stage,
        "error": {"code": job.error_code, "message": shown["error_message"]} if job.error_code else None,
        "error_details": shown["error_details"],
        "dataset": job.dataset_name,
        "version": job.version.number if job.version else None,
        "warnings": shown["warnings"],
        "delimiter_requested": delimiter_name(job.delimiter or None),
        "delimiter": delimiter_name(job.delimiter_used) if job.delimiter_used else None,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }
