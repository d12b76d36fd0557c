"""Reads for studies, datasets, versions and ingests, scoped to the caller (members see the catalog)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from core.errors import NotFound
from datasets.models import Dataset, DatasetVersion, IngestJob, Study
from datasets.study_origins import study_ids_unusable, study_usable_require
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role


def study_list_for_user(*, user: Any, tenant: Tenant) -> QuerySet[Study]:
    """Studies the caller may see (every member sees the catalog; dataset levels come with governance)."""
    role_require(user=user, tenant=tenant, minimum=Role.VIEWER)
    studies = Study.objects.select_related("demographics").order_by("name")
    unusable = study_ids_unusable()
    return studies.exclude(pk__in=unusable) if unusable else studies


def study_get_for_user(*, user: Any, tenant: Tenant, slug: str) -> Study:
    """One study by slug, or 404; a contributed study its provider withdrew answers 403 ``contribution_withdrawn``."""
    role_require(user=user, tenant=tenant, minimum=Role.VIEWER)
    study = Study.objects.select_related("demographics").filter(slug=slug).first()
    if study is None:
        raise NotFound("No such study.")
    study_usable_require(study)
    return study


def dataset_list_for_study(*, study: Study) -> QuerySet[Dataset]:
    """A study's datasets, demographics first, each with its versions prefetched (newest first)."""
    return (
        Dataset.objects.filter(study=study)
        .prefetch_related(Prefetch("versions", queryset=DatasetVersion.objects.order_by("-number")))
        .order_by("kind", "name")
    )


def dataset_get(*, study: Study, name: str) -> Dataset:
    """One dataset of a study, or 404."""
    dataset = dataset_list_for_study(study=study).filter(name=name).first()
    if dataset is None:
        raise NotFound("No such dataset.")
    return dataset


def version_get(*, dataset: Dataset, number: int) -> DatasetVersion:
    """One version of a dataset, or 404."""
    version = dataset.versions.filter(number=number).first()
    if version is None:
        raise NotFound("No such version.")
    return version


def ingest_get_for_user(*, user: Any, tenant: Tenant, job_id: int) -> IngestJob:
    """An ingest job of this tenant (members may follow any ingest's status), or 404."""
    role_require(user=user, tenant=tenant, minimum=Role.VIEWER)
    job = IngestJob.objects.select_related("study", "version").filter(pk=job_id).first()
    if job is None:
        raise NotFound("No such ingest.")
    return job


def ingest_list_for_study(*, study: Study, limit: int = 20) -> list[IngestJob]:
    """The study's most recent ingests (for the upload page)."""
    return list(IngestJob.objects.filter(study=study).select_related("version").order_by("-created_at")[:limit])


# Lineage reads look through tombstones: the catalog hides deleted datasets and versions, lineage still names them.


def dataset_get_any(*, study: Study, name: str) -> Dataset:
    """A dataset of the study by name, deleted or not (lineage pages), or 404."""
    dataset = Dataset.all_objects.filter(study=study, name=name).order_by("-id").first()
    if dataset is None:
        raise NotFound("No such dataset.")
    return dataset


def version_get_any(*, dataset: Dataset, number: int) -> DatasetVersion:
    """A version by number, deleted or not, or 404."""
    version = DatasetVersion.all_objects.filter(dataset=dataset, number=number).first()
    if version is None:
        raise NotFound("No such version.")
    return version


def versions_all(dataset: Dataset) -> list[DatasetVersion]:
    """Every version of a dataset, deleted ones included, newest first."""
    return list(DatasetVersion.all_objects.filter(dataset=dataset).order_by("-number"))
