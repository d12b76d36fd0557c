"""The consortium's records of a contributed study: catalog rows whose versions are the lab's own files.

:func:`mirror_create` writes them when the consortium accepts; :func:`mirror_refresh` brings them in line with what
the contribution covers at the moment of use (a new version the lab registered when the contribution follows the
latest, a version or dataset the lab deleted, column notes the lab changed). The consortium never changes them
itself (``datasets.study_origins.study_writable_require``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from datasets.events import dataset_registered
from datasets.models import Dataset, DatasetVersion, Engine, Study
from sharing.models import Contribution, Follow

STUDY_FIELDS = (
    "name",
    "description",
    "id_column",
    "session_column",
    "age_column",
    "sex_column",
    "site_column",
    "composite_id_column",
    "default_age_min",
    "default_age_max",
    "display_rows",
    "allow_duplicate_keys",
    "suppression_threshold",  # the lab's own k for the study: the consortium's may only be higher
)
DATASET_FIELDS = ("kind", "title", "description", "column_meta")
VERSION_FIELDS = (
    "sha256",
    "parquet_sha256",
    "original_filename",
    "original_file",
    "parquet_file",
    "size_bytes",
    "parquet_size_bytes",
    "encoding",
    "delimiter",
    "delimiter_detected",
    "row_count",
    "participants",
    "sessions",
    "columns",
    "warnings",
    "diff",
    "note",
)


@dataclass
class LabDataset:
    """One contributed dataset as the lab has it now, with the versions the contribution covers."""

    name: str
    fields: dict[str, Any]
    versions: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass
class LabStudy:
    """The contributed study as the lab has it now (None fields when the lab deleted it)."""

    fields: dict[str, Any]
    engine: str
    demographics: str | None
    datasets: dict[str, LabDataset]


def lab_study_read(contribution: Contribution) -> LabStudy | None:
    """Read the lab's live records of the contributed study (its schema), limited to what the contribution covers
    (None when the lab no longer has it, or no longer exists)."""
    if contribution.lab is None:
        return None
    with schema_context(contribution.lab.schema_name):
        study = Study.objects.filter(pk=contribution.study_id).select_related("demographics").first()
        if study is None:
            return None
        demographics = study.demographics.name if study.demographics_id and study.demographics else None
        datasets: dict[str, LabDataset] = {}
        by_id: dict[int, LabDataset] = {}
        for dataset in Dataset.objects.filter(study=study, name__in=list(contribution.datasets)):
            entry = LabDataset(dataset.name, {name: getattr(dataset, name) for name in DATASET_FIELDS})
            datasets[dataset.name] = by_id[dataset.pk] = entry
        pinned = contribution.pinned or {}
        for version in DatasetVersion.objects.filter(dataset_id__in=list(by_id)):
            entry = by_id[version.dataset_id]
            if contribution.follow == Follow.PINNED and version.number != int(pinned.get(entry.name, 0)):
                continue
            values = {name: getattr(version, name) for name in VERSION_FIELDS}
            values["created_by_id"] = version.created_by_id
            entry.versions[version.number] = values
        return LabStudy(
            fields={name: getattr(study, name) for name in STUDY_FIELDS},
            engine=study.engine,
            demographics=demographics,
            datasets=datasets,
        )


def _dataset_sync(
    study: Study, lab: LabDataset, existing: Dataset | None, have: dict[int, DatasetVersion]
) -> tuple[Dataset, bool]:
    """Create or update the consortium's record of one dataset and its versions (``have``: the versions it has, by
    number); True when the dataset is new."""
    created = existing is None
    if existing is None:
        with transaction.atomic():
            existing = Dataset.objects.create(study=study, name=lab.name, **lab.fields)
    elif any(getattr(existing, name) != value for name, value in lab.fields.items()):
        for name, value in lab.fields.items():
            setattr(existing, name, value)
        existing.save(update_fields=list(lab.fields))
    now = timezone.now()
    for number, values in sorted(lab.versions.items()):
        version = have.get(number)
        if version is None:
            try:
                with transaction.atomic():  # a concurrent request may have just added it
                    DatasetVersion.objects.create(dataset=existing, number=number, **values)
            except IntegrityError:
                continue
        elif version.deleted_at is not None and version.parquet_sha256 == values["parquet_sha256"]:
            # Back in the lab (e.g. pinned again); a different file under a reused number stays hidden: runs here
            # keep their lineage to the version they read.
            DatasetVersion.all_objects.filter(pk=version.pk).update(deleted_at=None)
    gone = [v.pk for number, v in have.items() if number not in lab.versions and v.deleted_at is None]
    if gone:
        DatasetVersion.all_objects.filter(pk__in=gone).update(deleted_at=now)
    return existing, created


def mirror_create(contribution: Contribution, lab: LabStudy, slug: str) -> Study:
    """Create the consortium's study for an accepted contribution (current schema: the consortium's)."""
    study = Study.objects.create(slug=slug, engine=Engine.DUCKDB, **lab.fields)
    for entry in lab.datasets.values():
        dataset, _ = _dataset_sync(study, entry, None, {})
        if entry.name == lab.demographics:
            study.demographics = dataset
            study.save(update_fields=["demographics"])
        dataset_registered.send(sender=Dataset, dataset=dataset)
    return study


def mirror_refresh(contribution: Contribution, study: Study) -> None:
    """Bring ``study`` (the consortium's record) in line with what the lab has and the contribution covers now."""
    lab = lab_study_read(contribution)
    with transaction.atomic():
        existing = {d.name: d for d in Dataset.all_objects.filter(study=study)}
        versions: dict[int, dict[int, DatasetVersion]] = {}
        for version in DatasetVersion.all_objects.filter(dataset__study=study):
            versions.setdefault(version.dataset_id, {})[version.number] = version
        now = timezone.now()
        for name, dataset in existing.items():
            if (lab is None or name not in lab.datasets) and dataset.deleted_at is None:
                Dataset.all_objects.filter(pk=dataset.pk).update(deleted_at=now)
                DatasetVersion.objects.filter(dataset=dataset).update(deleted_at=now)
        if lab is None:
            return
        changed = {name: value for name, value in lab.fields.items() if getattr(study, name) != value}
        if changed:
            Study.objects.filter(pk=study.pk).update(**changed)
            for name, value in changed.items():
                setattr(study, name, value)
        for name, entry in lab.datasets.items():
            current = existing.get(name)
            if current is not None and current.deleted_at is not None:
                Dataset.all_objects.filter(pk=current.pk).update(deleted_at=None)
                current.deleted_at = None
            have = versions.get(current.pk, {}) if current is not None else {}
            dataset, created = _dataset_sync(study, entry, current, have)
            if created:
                dataset_registered.send(sender=Dataset, dataset=dataset)
