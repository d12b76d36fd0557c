"""A new study and its first demographics version, created together: the import paths (API, wizard, import_folder).

Only an ingest job exists until the demographics file is registered: it carries the study to create
(``IngestJob.new_study``) and the worker creates the study row in the transaction that registers the version
(:mod:`datasets.study_registration`). A refused file therefore leaves no study behind.

Key columns come from a BDT configuration (``config.toml``, nested or flat) and/or are given explicitly. Configured
ones follow BDT's reading rules (:func:`datasets.ingest.read_keys`): the demographics header decides; a configured
optional column the header lacks is not used, with a warning. Explicit ones must be in the header. The ``[ui]``
settings become the study's builder defaults; settings with no meaning here are listed as ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import connection
from django.http import HttpRequest

from core.errors import Conflict, InvalidInput
from datasets.ingest import BdtConfig, KeyColumns
from datasets.ingest.reading import ROLES
from datasets.models import NAME_VALIDATOR, STUDY_SLUG_VALIDATOR, DatasetKind, IngestJob, Study
from datasets.services import (
    RESERVED_STUDY_SLUGS,
    _role_check,
    _validate,
    delimiter_clean,
    encoding_clean,
    ingest_job_stage,
    study_fields_clean,
    study_import_pending,
)
from tenants.models import Tenant


@dataclass(frozen=True)
class StudyPlan:
    """The key columns and settings a new study gets from a BDT configuration plus explicit choices."""

    keys: KeyColumns
    strict: frozenset[str] = frozenset()  # roles given explicitly: their columns must be in the header
    defaults: dict[str, Any] = field(default_factory=dict)  # builder defaults from [ui]
    notes: tuple[str, ...] = ()  # what was read from the configuration, ignored settings
    demographics_name: str | None = None  # dataset name suggested by the configuration's demographics_file
    source: str = "the configuration"

    def as_json(self) -> dict[str, Any]:
        return {
            "keys": self.keys.as_dict(),
            "strict": sorted(self.strict),
            "defaults": self.defaults,
            "notes": list(self.notes),
            "source": self.source,
        }


def study_plan(config: BdtConfig | None, explicit: dict[str, str | None] | None = None) -> StudyPlan:
    """Key columns from ``config`` (BDT's defaults fill what it leaves out, as BDT itself does) overridden by
    ``explicit`` (role -> column; blank = not used). Without a configuration every key is explicit."""
    explicit = {role: value for role, value in (explicit or {}).items() if role in ROLES and value is not None}
    if config is None:
        return StudyPlan(keys=KeyColumns.from_mapping(explicit), strict=frozenset(explicit), source="the request")
    filled = config.with_bdt_defaults()
    keys = {**filled.study_settings(), **explicit}
    notes = [f"Read a BDT configuration ({config.layout} form)."]
    notes += config.ignored_notes()
    defaults = {key: value for key, value in filled.builder_defaults().items() if value is not None}
    return StudyPlan(
        keys=KeyColumns.from_mapping(keys),
        strict=frozenset(role for role, value in explicit.items() if value),
        defaults=defaults,
        notes=tuple(notes),
        demographics_name=config.demographics_slug,
        source="the configuration",
    )


ANALYST_LEVELS = ("metadata", "count", "query", "export")


def study_import_create(
    *,
    tenant: Tenant,
    actor: Any,
    slug: str,
    name: str,
    upload: UploadedFile,
    plan: StudyPlan,
    dataset_name: str = "demographics",
    description: str = "",
    engine: str = "duckdb",
    encoding: str = "",
    delimiter: str = "auto",
    analyst_level: str = "",
    request: HttpRequest | None = None,
    enqueue: bool = True,
) -> IngestJob:
    """Queue the import of a new study's demographics file (202): the study exists once it is registered.

    ``analyst_level`` (metadata|count|query|export, optional) becomes the study's default for analysts in the
    registration's transaction (``study_default_level`` in the job's plan; access sets it when announced)."""
    _role_check(actor, tenant, "create studies")
    _validate(STUDY_SLUG_VALIDATOR, slug, "study slug", "invalid_slug")
    if slug in RESERVED_STUDY_SLUGS:
        raise InvalidInput(f"{slug!r} is reserved; choose another short name.", code="invalid_slug")
    _validate(NAME_VALIDATOR, dataset_name, "dataset name", "invalid_name")
    separator = delimiter_clean(delimiter)
    encoding = encoding_clean(encoding)
    if not plan.keys.id_column:
        raise InvalidInput(
            "Give the participant id column (id_column) or a BDT configuration that names it.", code="keys_missing"
        )
    settings = study_fields_clean(
        {
            "name": name,
            "description": description,
            "engine": engine,
            **{role: value or "" for role, value in plan.keys.as_dict().items()},
            **plan.defaults,
        },
        tenant,
    )
    if Study.objects.filter(slug=slug).exists() or study_import_pending(slug):
        raise Conflict(f"A study {slug!r} already exists (or is being imported).", code="study_exists")
    new_study = {"slug": slug, **{k: settings[k] for k in ("name", "description", "engine")}, **plan.as_json()}
    if analyst_level:
        if analyst_level not in ANALYST_LEVELS:
            raise InvalidInput(
                f"Unknown level {analyst_level!r}; choose one of {', '.join(ANALYST_LEVELS)}.", code="invalid_level"
            )
        new_study["study_default_level"] = analyst_level
    return ingest_job_stage(
        tenant=tenant,
        actor=actor,
        study=None,
        new_study=new_study,
        upload=upload,
        dataset_name=dataset_name,
        kind=DatasetKind.DEMOGRAPHICS,
        encoding=encoding,
        separator=separator,
        request=request,
        enqueue=enqueue,
    )


def study_import_file_sync(
    *, slug: str, name: str, path: Path, plan: StudyPlan, dataset_name: str, delimiter: str = "auto", actor: Any = None
) -> IngestJob:
    """Import a local demographics file as a new study in this process (CLI): the same path as the API's."""
    from datasets.ingest_runner import ingest_job_execute

    tenant = connection.tenant  # type: ignore[attr-defined]
    with open(path, "rb") as handle:
        job = study_import_create(
            tenant=tenant,
            actor=actor,
            slug=slug,
            name=name,
            upload=File(handle, name=path.name),  # type: ignore[arg-type]
            plan=plan,
            dataset_name=dataset_name,
            delimiter=delimiter,
            enqueue=False,
        )
    return ingest_job_execute(job.pk)
