"""Reads of the study catalog pages: list statistics, a dataset's versions and their differences, sensitive
columns, active ingests."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, IntegerField, Max, OuterRef, Q, QuerySet, Subquery

from datasets.models import Dataset, DatasetVersion, IngestJob, IngestStatus, Study


def study_list_annotate(studies: QuerySet[Study]) -> QuerySet[Study]:
    """Add ``dataset_count``, ``last_version_at`` and ``participant_count`` (demographics' latest version)."""
    latest_demographics = DatasetVersion.objects.filter(dataset_id=OuterRef("demographics_id")).order_by("-number")
    return studies.annotate(
        dataset_count=Count("datasets", distinct=True),
        last_version_at=Max("datasets__versions__created_at"),
        participant_count=Subquery(latest_demographics.values("participants")[:1], output_field=IntegerField()),
    )


def sensitive_column_count(dataset: Dataset) -> int:
    """How many columns carry a sensitivity tag."""
    return sum(1 for meta in (dataset.column_meta or {}).values() if isinstance(meta, dict) and meta.get("sensitivity"))


def active_ingests(study: Study) -> QuerySet[IngestJob]:
    """Ingests of the study still queued or running."""
    return IngestJob.objects.filter(study=study).filter(Q(status=IngestStatus.QUEUED) | Q(status=IngestStatus.RUNNING))


def _emails(user_ids: set[Any]) -> dict[Any, str]:
    ids = {pk for pk in user_ids if pk}
    if not ids:
        return {}
    return dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "email"))


def version_list(dataset: Dataset) -> list[DatasetVersion]:
    """Every version of a dataset, newest first (with the uploader's e-mail as ``uploader_email``)."""
    versions = list(dataset.versions.order_by("-number"))
    emails = _emails({version.created_by_id for version in versions})
    for version in versions:
        version.uploader_email = emails.get(version.created_by_id, "")  # type: ignore[attr-defined]
    return versions


def diff_summary(diff: dict[str, Any] | None) -> dict[str, Any]:
    """A version's stored schema diff (``datasets.ingest.schema_diff(...).as_dict()``) as lists the page prints."""
    diff = diff or {}
    added = [str(name) for name in diff.get("added") or []]
    removed = [str(name) for name in diff.get("removed") or []]
    retyped = [
        {"name": str(item.get("name", "")), "from": str(item.get("from", "")), "to": str(item.get("to", ""))}
        for item in diff.get("retyped") or []
        if isinstance(item, dict)
    ]
    renamed_case = [
        (str(pair[0]), str(pair[1]))
        for pair in diff.get("renamed_case") or []
        if isinstance(pair, list | tuple) and len(pair) == 2
    ]
    rows_before, rows_after = diff.get("old_rows"), diff.get("new_rows")
    row_change = diff.get("row_change")
    if row_change is None and isinstance(rows_before, int) and isinstance(rows_after, int):
        row_change = rows_after - rows_before
    return {
        "added": added,
        "removed": removed,
        "retyped": retyped,
        "renamed_case": renamed_case,
        "reordered": bool(diff.get("reordered")),
        "rows_before": rows_before,
        "rows_after": rows_after,
        "row_change": row_change,
        "empty": not diff,
        "schema_unchanged": not (added or removed or retyped),
    }
