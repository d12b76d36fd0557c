"""The worker side of a new-study import: read the key columns from the demographics header, and create the study
inside the transaction that registers its first version (called by :mod:`datasets.ingest_runner`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction

from audit.services import audit_event_record
from datasets.ingest import IngestError, KeyColumns, KeyReading, read_csv_header, read_keys
from datasets.models import IngestJob, Study

STUDY_EXISTS = "study_exists"


def new_study_keys(job: IngestJob, source: Path, *, max_columns: int) -> KeyReading:
    """BDT's reading rules applied to the header of the job's demographics file (raises ``IngestError``)."""
    plan = job.new_study
    header = read_csv_header(
        source, encoding=job.encoding or None, delimiter=job.delimiter or None, max_columns=max_columns
    )
    configured = KeyColumns.from_mapping(plan.get("keys") or {})
    return read_keys(configured, header, strict=plan.get("strict") or (), source=plan.get("source") or "the request")


def new_study_create(job: IngestJob, reading: KeyReading) -> Study:
    """Create the job's study with the keys ``reading`` settled (inside the caller's transaction; audited).

    A study of the same slug created meanwhile makes the ingest fail (``study_exists``) and roll back.
    """
    plan: dict[str, Any] = job.new_study
    slug = str(plan["slug"])
    keys = {role: value or "" for role, value in reading.keys.as_dict().items()}
    defaults = plan.get("defaults") or {}
    try:
        with transaction.atomic():
            study = Study(
                slug=slug,
                name=plan.get("name") or slug,
                description=plan.get("description") or "",
                engine=plan.get("engine") or "duckdb",
                created_by=job.created_by,
                default_age_min=defaults.get("default_age_min"),
                default_age_max=defaults.get("default_age_max"),
                display_rows=defaults.get("display_rows"),
                **keys,
            )
            study._history_user = job.created_by  # type: ignore[attr-defined]
            study.save()
    except IntegrityError:
        raise IngestError(
            STUDY_EXISTS, f"A study {slug!r} was created meanwhile; import under another short name.", {"slug": slug}
        ) from None
    details: dict[str, Any] = {
        "name": study.name,
        **keys,
        "source": "import",
        "builder_defaults": defaults,
        "unused_keys": reading.unused,
        "notes": plan.get("notes") or [],
    }
    audit_event_record(action="study.created", actor=job.created_by, target=study, details=details)
    IngestJob.objects.filter(pk=job.pk).update(study=study)
    job.study = study
    return study
