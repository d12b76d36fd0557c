"""The data dictionary of a dataset version: one row per column, as rows or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from django.http import HttpRequest

from audit.services import audit_event_record
from core.csv_safety import csv_safe
from datasets.models import Dataset, DatasetVersion

DICTIONARY_FIELDS = [
    "dataset",
    "version",
    "column",
    "type",
    "description",
    "sensitivity",
    "missing",
    "distinct",
    "min",
    "max",
]


def dictionary_rows(
    dataset: Dataset, version: DatasetVersion, profiles: Sequence[Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Rows of the dictionary: column facts from the version, descriptions and tags from the dataset.

    ``profiles``: the version's column profiles as this reader may see them (``access.catalog.CatalogView``:
    values hidden, numbers under the disclosure rules below ``query``); default: the exact stored profiles."""
    return [
        {
            "dataset": dataset.name,
            "version": version.number,
            "column": column["name"],
            "type": column.get("type", ""),
            "description": dataset.column_description(column["name"]),
            "sensitivity": dataset.column_sensitivity(column["name"]),
            "missing": _blank_if_none(column.get("missing")),
            "distinct": _blank_if_none(column.get("distinct")),
            "min": _blank_if_none(column.get("min")),
            "max": _blank_if_none(column.get("max")),
        }
        for column in (version.columns if profiles is None else profiles)
    ]


def _blank_if_none(value: Any) -> Any:
    return "" if value is None else value


def dictionary_csv(
    dataset: Dataset, version: DatasetVersion, profiles: Sequence[Mapping[str, Any]] | None = None
) -> str:
    """The dictionary as CSV text (formula-safe), from ``profiles`` as the reader may see them
    (see :func:`dictionary_rows`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=DICTIONARY_FIELDS)
    writer.writeheader()
    for row in dictionary_rows(dataset, version, profiles):
        writer.writerow({key: csv_safe(value) for key, value in row.items()})
    return buffer.getvalue()


def dictionary_download_record(
    *, actor: Any, request: HttpRequest | None, dataset: Dataset, version: DatasetVersion
) -> None:
    """Audit a data dictionary download (``dataset.dictionary_downloaded``), page and API alike."""
    audit_event_record(
        action="dataset.dictionary_downloaded",
        actor=actor,
        request=request,
        target=dataset,
        details={
            "study": dataset.study.slug,
            "dataset": dataset.name,
            "version": version.number,
        },
    )
