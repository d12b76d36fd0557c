"""API: import a study from a BDT project (its ``config.toml`` and demographics file) in one request.

``POST /api/v1/studies/import`` (multipart; registered by :mod:`studies.api` ahead of ``/studies/{study}``)
answers 202 with the ingest job that creates the study together with its demographics version; the study exists
once ``GET /api/v1/ingests/{id}`` says ``succeeded`` (a refused file leaves no study behind). Measure tables then go
through the ordinary upload endpoint.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, File, Form, Schema, Status
from ninja.files import UploadedFile

from core.errors import InvalidInput
from datasets.import_services import StudyPlan, study_import_create, study_plan
from datasets.ingest import BdtConfig, IngestError, dataset_slug, parse_bdt_config
from datasets.ingest.bdt_config import MAX_CONFIG_BYTES
from datasets.services import UploadTooLarge
from studies.api_schemas import IngestRef
from tenants.api_auth import principal


class ConfigReport(Schema):
    layout: str = Field(description="nested | flat | json | empty | none (no configuration given)")
    keys: dict[str, str | None] = Field(description="Key columns to use if the demographics header has them.")
    explicit: list[str] = Field(description="Key columns given explicitly: they must be in the header.")
    builder_defaults: dict[str, Any]
    ignored: list[str] = Field(description="Settings read but without meaning here (e.g. state.backend).")
    notes: list[str]


class ImportAccepted(Schema):
    study: str
    dataset: str
    ingest: IngestRef
    config: ConfigReport


def _config(upload: UploadedFile | None) -> BdtConfig | None:
    if upload is None:
        return None
    raw = upload.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise InvalidInput("The configuration file is larger than 1 MB; it cannot be a BDT config.", "invalid_config")
    try:
        return parse_bdt_config(raw)
    except IngestError as exc:
        raise InvalidInput(exc.message, code=exc.code, details=exc.details) from None


def studies_import(
    request: HttpRequest,
    slug: Form[str],
    demographics: File[UploadedFile | None] = None,
    config: File[UploadedFile | None] = None,
    name: Form[str] = "",
    description: Form[str] = "",
    engine: Form[Literal["duckdb", "postgres", "spark"]] = "duckdb",
    dataset_name: Form[str] = "",
    id_column: Form[str | None] = None,
    session_column: Form[str | None] = None,
    age_column: Form[str | None] = None,
    sex_column: Form[str | None] = None,
    site_column: Form[str | None] = None,
    composite_id_column: Form[str | None] = None,
    default_age_min: Form[float | None] = None,
    default_age_max: Form[float | None] = None,
    display_rows: Form[int | None] = None,
    encoding: Form[str] = "",
    delimiter: Form[str] = "auto",
) -> Status[dict[str, Any]]:
    """Create a study from a BDT project: `demographics` (CSV) and optionally `config` (BDT's config.toml, nested
    or flat, or its JSON settings export) with any key column given explicitly (an empty value = not used).

    Configured key columns follow BDT's reading rules: the demographics header decides cross-sectional vs
    longitudinal, and configured optional columns it lacks are not used (warnings on the ingest). Explicit ones
    must be in the header. The study exists once the ingest succeeded; a refused file leaves no study behind.
    """
    caller = principal(request)
    if getattr(request, "upload_too_large", False):
        raise UploadTooLarge("The file is larger than this workspace's upload limit.")
    if demographics is None:
        raise InvalidInput("Attach the demographics CSV as the multipart field 'demographics'.", code="file_missing")
    bdt = _config(config)
    explicit = {
        "id_column": id_column,
        "session_column": session_column,
        "age_column": age_column,
        "sex_column": sex_column,
        "site_column": site_column,
        "composite_id_column": composite_id_column,
    }
    plan = study_plan(bdt, explicit)
    given = {"default_age_min": default_age_min, "default_age_max": default_age_max, "display_rows": display_rows}
    plan = dataclasses.replace(plan, defaults={**plan.defaults, **{k: v for k, v in given.items() if v is not None}})
    table = dataset_name or plan.demographics_name or dataset_slug(demographics.name or "demographics.csv")
    job = study_import_create(
        tenant=caller.tenant,
        actor=caller.user,
        slug=slug,
        name=name or slug,
        description=description,
        engine=engine,
        upload=demographics,
        plan=plan,
        dataset_name=table,
        encoding=encoding,
        delimiter=delimiter,
        request=request,
    )
    return Status(
        202,
        {
            "study": slug,
            "dataset": table,
            "ingest": {"id": job.pk, "status": job.status, "progress": job.progress},
            "config": _report(bdt, plan),
        },
    )


def _report(config: BdtConfig | None, plan: StudyPlan) -> dict[str, Any]:
    return {
        "layout": config.layout if config is not None else "none",
        "keys": plan.keys.as_dict(),
        "explicit": sorted(plan.strict),
        "builder_defaults": plan.defaults,
        "ignored": list(config.ignored) if config is not None else [],
        "notes": list(plan.notes),
    }
