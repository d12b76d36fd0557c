"""The readable change history of a study and its datasets (the study's History tab), on the one differ
(``core.history_diff``), plus each uploaded version. A version's row count is shown as the caller's catalog shows
it (``access.catalog.CatalogView``): exact from the ``query`` level on, below it the cell-key number (none below k)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from access.catalog import CatalogView
from core.history_diff import FieldChange, HistoryItem, history_items, people_resolve
from datasets.models import Dataset, DatasetVersion, Sensitivity, Study

_HISTORY_SKIP = {"id", "created_by", "study", "history_id", "history_date", "history_change_reason", "history_type"}
_HISTORY_SKIP |= {"history_user", "history_relation"}
_LABELS = {
    "id_column": "Participant ID column",
    "session_column": "Session column",
    "age_column": "Age column",
    "sex_column": "Sex column",
    "site_column": "Site / substudy column",
    "slug": "Short name",
    "demographics": "Demographics table",
    "suppression_threshold": "Small-cell threshold",
    "allow_duplicate_keys": "Several rows per key allowed",
}


def _show(value: Any) -> str:
    if value is None or value == "":
        return "—"
    return str(value)


def _record_values(record: Any, fields: list[Any]) -> dict[str, Any]:
    return {f.name: getattr(record, f.attname) for f in fields}


def _column_meta_changes(old: Any, new: Any) -> list[FieldChange]:
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    changes = []
    for column in sorted(set(old) | set(new)):
        before, after = old.get(column) or {}, new.get(column) or {}
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                shown = dict(Sensitivity.choices) if key == "sensitivity" else {}
                old_value, new_value = before.get(key), after.get(key)
                changes.append(
                    FieldChange(
                        field=f"{column} · {key}",
                        old=_show(shown.get(old_value, old_value) if old_value else old_value),
                        new=_show(shown.get(new_value, new_value) if new_value else new_value),
                    )
                )
    return changes


def _record_changes(
    model: type, previous: dict[str, Any] | None, current: dict[str, Any], names: dict[Any, str]
) -> list[FieldChange]:
    changes: list[FieldChange] = []
    for key, value in current.items():
        old = previous.get(key) if previous is not None else None
        if previous is not None and old == value:
            continue
        if previous is None and value in (None, "", {}, [], False):
            continue
        if key == "column_meta":
            changes.extend(_column_meta_changes(old, value))
            continue
        try:
            model_field = model._meta.get_field(key)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a field of the history table only
            model_field = None
        label = _LABELS.get(key) or (str(model_field.verbose_name) if model_field is not None else key)
        if key == "demographics":
            old, value = names.get(old, old), names.get(value, value)
        elif model_field is not None and model_field.choices:
            shown = {choice: str(text) for choice, text in model_field.flatchoices}
            old, value = shown.get(old, old), shown.get(value, value)
        changes.append(FieldChange(field=label, old=_show(old), new=_show(value)))
    return changes


def _history_entries(model: type, records: list[Any], names: dict[Any, str], kind: str) -> list[HistoryItem]:
    fields = [f for f in records[0]._meta.fields if f.name not in _HISTORY_SKIP] if records else []

    def changes(record: Any, before: Any, action: str) -> list[FieldChange]:
        previous = _record_values(before, fields) if before is not None and action != "created" else None
        return _record_changes(model, previous, _record_values(record, fields), names)

    def label(record: Any) -> str:
        values = _record_values(record, fields)
        return str(values.get("name") or values.get("slug") or record.id)

    return history_items(records, kind=kind, label=label, changes=changes)


def version_rows_shown(view: CatalogView, version: DatasetVersion) -> str:
    """A version's row count as the caller may read it: exact from ``query`` on, below it the protected number
    (the same as the catalog API's ``row_count``), or a word when its group is too small to show."""
    rows = view.total(version.dataset.name, version).rows
    if rows is None:
        return "not shown (fewer participants than the small-cell threshold)"
    if view.exact_counts(version.dataset.name):
        return f"{rows:,}"
    return f"{rows:,} (perturbed: your access is below row level)"


@dataclass
class VersionItem(HistoryItem):
    """A new version in the history; its row count is filled in for the caller by :func:`history_rows_fill`."""

    version: DatasetVersion | None = None


def history_rows_fill(items: Iterable[HistoryItem], view: CatalogView) -> None:
    """Set the row count of each version among ``items`` (a page of the history) to what ``view`` shows."""
    for item in items:
        if isinstance(item, VersionItem) and item.version is not None:
            for change in item.changes:
                if change.field == "rows":
                    change.new = version_rows_shown(view, item.version)


def study_history(study: Study, *, limit: int = 2000) -> list[HistoryItem]:
    """The study's and its datasets' recorded changes, plus each new version, newest first. Version row counts are
    left blank: :func:`history_rows_fill` sets them for the caller (on the page shown, so the protected numbers are
    computed for those versions only)."""
    study_records = list(Study.history.filter(id=study.pk).order_by("history_date", "history_id")[:limit])  # type: ignore[attr-defined]
    dataset_records = list(
        Dataset.history.filter(study_id=study.pk).order_by("history_date", "history_id")[:limit]  # type: ignore[attr-defined]
    )
    names = {record.id: record.name for record in dataset_records}
    entries = _history_entries(Study, study_records, names, "study")
    entries += _history_entries(Dataset, dataset_records, names, "dataset")
    versions = (
        DatasetVersion.objects.filter(dataset__study=study).select_related("dataset").order_by("-created_at")[:limit]
    )
    for version in versions:
        changes = [
            FieldChange(field="file", old="", new=version.original_filename),
            FieldChange(field="rows", old="", new=""),
        ]
        if version.note:
            changes.append(FieldChange(field="note", old="", new=version.note))
        entries.append(
            VersionItem(
                at=version.created_at,
                who=str(version.created_by_id or ""),
                kind="version",
                label=f"{version.dataset.name} v{version.number}",
                action="uploaded",
                changes=changes,
                version=version,
            )
        )
    people_resolve(entries)
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries
