"""Writes of dataset metadata that the pages edit: per-column description and sensitivity (stewards and owners)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from audit.services import audit_event_record
from core.errors import InvalidInput, NotFound
from datasets.models import Dataset, DatasetVersion, Sensitivity
from datasets.study_origins import study_writable_require
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role

DESCRIPTION_MAX_CHARS = 2000


def dataset_column_names(dataset: Dataset) -> set[str]:
    """Every column any version of the dataset has (descriptions outlive a column's removal in a later version)."""
    names: set[str] = set()
    for columns in DatasetVersion.objects.filter(dataset=dataset).values_list("columns", flat=True):
        names.update(column["name"] for column in columns or [] if isinstance(column, dict) and "name" in column)
    return names


def dataset_column_meta_update(
    *,
    tenant: Tenant,
    actor: Any,
    dataset: Dataset,
    column: str,
    description: str,
    sensitivity: str,
    request: HttpRequest | None = None,
) -> Dataset:
    """Set one column's description and sensitivity tag; audited. Needs steward or above."""
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="edit column descriptions")
    study_writable_require(dataset.study)
    description = (description or "").strip()
    sensitivity = (sensitivity or "").strip()
    if len(description) > DESCRIPTION_MAX_CHARS:
        raise InvalidInput(
            f"The description is longer than {DESCRIPTION_MAX_CHARS:,} characters.", code="description_too_long"
        )
    if sensitivity not in Sensitivity.values:
        allowed = ", ".join(value for value in Sensitivity.values if value)
        raise InvalidInput(f"Sensitivity must be empty or one of {allowed}.", code="invalid_sensitivity")
    if column not in dataset_column_names(dataset):
        raise NotFound(f"The dataset has no column {column!r}.")
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        meta: dict[str, Any] = dict(locked.column_meta or {})
        before = dict(meta.get(column) or {})
        after = {key: value for key, value in (("description", description), ("sensitivity", sensitivity)) if value}
        if {key: value for key, value in before.items() if key in {"description", "sensitivity"} and value} == after:
            return locked
        entry = {key: value for key, value in before.items() if key not in {"description", "sensitivity"}} | after
        if entry:
            meta[column] = entry
        else:
            meta.pop(column, None)
        locked.column_meta = meta
        locked.save(update_fields=["column_meta"])
        audit_event_record(
            action="dataset.column_meta_updated",
            actor=actor,
            request=request,
            target=locked,
            details={
                "study": locked.study.slug,
                "dataset": locked.name,
                "column": column,
                "from": before,
                "to": after,
            },
        )
    return locked
