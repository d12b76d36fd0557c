"""The data dictionary of a dataset version: one row per column, as rows or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection
from typing import Any

from django.http import HttpRequest

from audit.services import audit_event_record
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
    dataset: Dataset,
    version: DatasetVersion,
    hidden: Collection[str] = (),
    shown_count: Callable[[Any], Any] | None = None,
) -> list[dict[str, Any]]:
    """Rows of the dictionary: column facts from the version, descriptions and tags from the dataset.

    ``hidden``: columns whose example values (min, max) are left blank for this reader; ``shown_count``: how this
    reader may see a count (None = a suppressed small cell, written blank)."""
    visible = shown_count or (lambda value: value)
    return [
        _hide_values(
            column["name"] in hidden,
            {
                "dataset": dataset.name,
                "version": version.number,
                "column": column["name"],
                "type": column.get("type", ""),
                "description": dataset.column_description(column["name"]),
                "sensitivity": dataset.column_sensitivity(column["name"]),
                "missing": _blank_if_none(visible(column.get("missing", ""))),
                "distinct": column.get("distinct", ""),
                "min": "" if column.get("min") is None else column.get("min"),
                "max": "" if column.get("max") is None else column.get("max"),
            },
        )
        for column in version.columns
    ]


def _blank_if_none(value: Any) -> Any:
    return "" if value is None else value


def _hide_values(hide: bool, row: dict[str, Any]) -> dict[str, Any]:
    if hide:
        row.update({"min": "", "max": ""})
    return row


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # first characters that make a spreadsheet cell a formula


def csv_safe(value: Any) -> Any:
    """Neutralize spreadsheet formulas (OWASP): prefix cells starting with = + - @ tab or CR with a quote."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def dictionary_csv(
    dataset: Dataset,
    version: DatasetVersion,
    hidden: Collection[str] = (),
    shown_count: Callable[[Any], Any] | None = None,
) -> str:
    """The dictionary as CSV text (formula-safe); ``hidden`` columns without example values, counts through
    ``shown_count`` (see :func:`dictionary_rows`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=DICTIONARY_FIELDS)
    writer.writeheader()
    for row in dictionary_rows(dataset, version, hidden, shown_count):
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
