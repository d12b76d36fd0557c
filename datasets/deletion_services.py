"""Deleting datasets and dataset versions as tombstones (stewards and owners).

A deleted dataset (or version) disappears from the catalog and from new queries, but its rows stay: runs that read
it keep their lineage, exports keep their manifest, and the audit trail keeps every event. Files of a version are
kept when any run read it (a rerun must reproduce the same bytes); files no run ever read are removed after the
deletion commits. See docs/operations.md, "Retention".
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import audit_event_record
from core.errors import Conflict
from datasets.models import Dataset, DatasetKind, DatasetVersion, Study
from datasets.storage import participant_stores_remove, storage_delete
from datasets.study_origins import study_writable_require, version_read_elsewhere
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role

logger = logging.getLogger(__name__)


def version_was_read(version: DatasetVersion) -> bool:
    """True when any query run pinned this version, here or in a workspace it is shared with (its files are then
    kept for reruns and exports)."""
    return version.run_links.exists() or version_read_elsewhere(version)  # type: ignore[attr-defined]


def _release_files(versions: list[DatasetVersion], now: Any) -> tuple[list[int], list[int]]:
    """Mark the files of versions no run read as removed; returns (removed numbers, kept numbers)."""
    removed: list[int] = []
    kept: list[int] = []
    names: list[str] = []
    for version in versions:
        if version.files_removed_at is not None:
            continue
        if version_was_read(version):
            kept.append(version.number)
            continue
        removed.append(version.number)
        names.extend([version.original_file, version.parquet_file])
        DatasetVersion.all_objects.filter(pk=version.pk).update(files_removed_at=now)
    if names:
        transaction.on_commit(lambda: _delete_quietly(names))
    return sorted(removed), sorted(kept)


def _delete_quietly(names: list[str]) -> None:
    try:
        storage_delete(names)
    except OSError:
        logger.exception("could not remove the files of a deleted dataset version")


def _stores_remove(study_pk: int) -> None:
    """After the deletion commits: the participant index stores of the study hold the deleted rows (every version
    set that included them); they go (counts read Parquet until a store of the remaining versions is built)."""
    transaction.on_commit(lambda: participant_stores_remove(study_pk))


def dataset_delete(*, tenant: Tenant, actor: Any, dataset: Dataset, request: HttpRequest | None = None) -> Dataset:
    """Delete a dataset as a tombstone (audited ``dataset.deleted``); 409 if it is already deleted.

    The demographics table drives every query: it can only be deleted when it is the study's last dataset.
    """
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="delete datasets")
    study_writable_require(dataset.study)
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=dataset.study_id)
        locked = Dataset.all_objects.select_for_update().get(pk=dataset.pk)
        if locked.deleted_at is not None:
            raise Conflict("This dataset is already deleted.", code="already_deleted")
        is_driver = study.demographics_id == locked.pk or locked.kind == DatasetKind.DEMOGRAPHICS
        if is_driver and Dataset.objects.filter(study=study).exclude(pk=locked.pk).exists():
            raise Conflict(
                "The demographics table drives every query of the study; delete the measure tables first.",
                code="demographics_in_use",
            )
        now = timezone.now()
        locked.deleted_at, locked.deleted_by = now, actor
        locked._history_user = actor  # type: ignore[attr-defined]
        locked.save(update_fields=["deleted_at", "deleted_by"])
        if study.demographics_id == locked.pk:
            study.demographics = None
            study._history_user = actor  # type: ignore[attr-defined]
            study.save(update_fields=["demographics"])
        versions = list(DatasetVersion.all_objects.filter(dataset=locked).order_by("number"))
        removed, kept = _release_files(versions, now)
        _stores_remove(study.pk)
        audit_event_record(
            action="dataset.deleted",
            actor=actor,
            request=request,
            target=locked,
            details={
                "study": study.slug,
                "dataset": locked.name,
                "versions": [version.number for version in versions],
                "files_kept_for_versions": kept,
                "files_removed_for_versions": removed,
            },
        )
    return locked


def dataset_version_delete(
    *, tenant: Tenant, actor: Any, version: DatasetVersion, request: HttpRequest | None = None
) -> DatasetVersion:
    """Delete one version as a tombstone (audited ``dataset_version.deleted``).

    New queries then use the dataset's newest remaining version. The last remaining version cannot be deleted:
    delete the dataset instead. Files are kept when any run read the version.
    """
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="delete dataset versions")
    study_writable_require(version.dataset.study)
    with transaction.atomic():
        dataset = Dataset.all_objects.select_for_update().get(pk=version.dataset_id)
        locked = DatasetVersion.all_objects.select_for_update().get(pk=version.pk)
        if locked.deleted_at is not None or dataset.deleted_at is not None:
            raise Conflict("This version is already deleted.", code="already_deleted")
        if not DatasetVersion.objects.filter(dataset=dataset).exclude(pk=locked.pk).exists():
            raise Conflict("This is the dataset's only version; delete the dataset instead.", code="last_version")
        now = timezone.now()
        locked.deleted_at, locked.deleted_by = now, actor
        locked.save(update_fields=["deleted_at", "deleted_by"])
        _removed, kept = _release_files([locked], now)
        _stores_remove(dataset.study_id)
        audit_event_record(
            action="dataset_version.deleted",
            actor=actor,
            request=request,
            target=locked,
            details={
                "study": dataset.study.slug,
                "dataset": dataset.name,
                "version": locked.number,
                "sha256": locked.sha256,
                "files_kept": bool(kept),
            },
        )
    locked.refresh_from_db()
    return locked
