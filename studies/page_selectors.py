"""Reads the study and dataset pages need on top of :mod:`datasets.selectors`: list statistics, the setup
wizard's current step, and the readable change history of a study and its datasets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, IntegerField, Max, OuterRef, Q, QuerySet, Subquery

from access.catalog import CatalogView
from datasets.models import Dataset, DatasetKind, DatasetVersion, IngestJob, IngestStatus, Sensitivity, Study

# --- Study list --------------------------------------------------------------------------------------------------


def study_list_annotate(studies: QuerySet[Study]) -> QuerySet[Study]:
    """Add ``dataset_count``, ``last_version_at`` and ``participant_count`` (demographics' latest version)."""
    latest_demographics = DatasetVersion.objects.filter(dataset_id=OuterRef("demographics_id")).order_by("-number")
    return studies.annotate(
        dataset_count=Count("datasets", distinct=True),
        last_version_at=Max("datasets__versions__created_at"),
        participant_count=Subquery(latest_demographics.values("participants")[:1], output_field=IntegerField()),
    )


# --- Setup wizard ------------------------------------------------------------------------------------------------

STEP_CREATE = "create"
STEP_DEMOGRAPHICS = "demographics"
STEP_KEYS = "keys"
STEP_IMPORTING = "importing"
STEP_MEASURES = "measures"
STEP_DONE = "done"

WIZARD_STEPS: list[tuple[str, str]] = [
    (STEP_CREATE, "Create the study"),
    (STEP_DEMOGRAPHICS, "Upload demographics"),
    (STEP_KEYS, "Confirm key columns"),
    (STEP_MEASURES, "Upload measures"),
]


@dataclass
class SetupState:
    """Where a study stands in its setup, and the facts each wizard step shows."""

    step: str
    demographics_version: DatasetVersion | None = None
    demographics_job: IngestJob | None = None
    measure_count: int = 0

    @property
    def is_complete(self) -> bool:
        return self.step == STEP_DONE

    @property
    def has_data(self) -> bool:
        return self.demographics_version is not None

    @property
    def failed_job(self) -> IngestJob | None:
        job = self.demographics_job
        return job if job is not None and job.status == IngestStatus.FAILED else None

    def steps(self) -> list[dict[str, Any]]:
        """The wizard's steps with their state (done / current / todo) for the step indicator."""
        current = STEP_KEYS if self.step == STEP_IMPORTING else self.step
        order = [key for key, _ in WIZARD_STEPS]
        position = order.index(current) if current in order else len(order)
        return [
            {
                "key": key,
                "label": label,
                "number": index + 1,
                "state": "done" if index < position else ("current" if index == position else "todo"),
            }
            for index, (key, label) in enumerate(WIZARD_STEPS)
        ]


def study_setup_state(study: Study, *, staged: bool = False) -> SetupState:
    """The wizard step a study is at. ``staged``: a demographics file waits for its key columns to be confirmed.

    Like BDT, a study holding only its demographics table is not fully set up (the measures step follows).
    """
    demographics_version = study.demographics.latest_version() if study.demographics_id else None  # type: ignore[union-attr]
    measure_count = (
        Dataset.objects.filter(study=study, kind=DatasetKind.MEASURE, versions__isnull=False).distinct().count()
    )
    job = IngestJob.objects.filter(study=study, kind=DatasetKind.DEMOGRAPHICS).order_by("-created_at").first()
    state = SetupState(
        step=STEP_DEMOGRAPHICS,
        demographics_version=demographics_version,
        demographics_job=job,
        measure_count=measure_count,
    )
    if demographics_version is not None:
        state.step = STEP_DONE if measure_count else STEP_MEASURES
    elif study.keys_confirmed and job is not None and not job.is_finished and not staged:
        state.step = STEP_IMPORTING
    elif staged:
        state.step = STEP_KEYS
    return state


# --- Dataset page ------------------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _histogram(raw: Any) -> tuple[list[float], list[float]] | None:
    """(counts, edges) from a column profile's histogram, whatever its exact stored shape."""
    if isinstance(raw, dict):
        counts = raw.get("counts") or raw.get("values") or []
        edges = raw.get("edges") or raw.get("bins") or raw.get("bin_edges") or []
    elif isinstance(raw, list) and raw and isinstance(raw[0], dict):  # [{"lo", "hi", "count"}...]
        counts = [item.get("count", 0) for item in raw]
        edges = [item.get("lo", item.get("start")) for item in raw] + [raw[-1].get("hi", raw[-1].get("end"))]
    else:
        return None
    try:
        return [float(c) for c in counts], [float(e) for e in edges if e is not None]
    except (TypeError, ValueError):
        return None


def _top_values(raw: Any) -> list[tuple[str, Any]]:
    """[(value, count)] from a column profile's top values ([{"value", "count"}], [[v, c]] or {v: c})."""
    items: list[tuple[str, Any]] = []
    if isinstance(raw, dict):
        items = [(str(key), value) for key, value in raw.items()]
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict):
                items.append((str(item.get("value", "")), item.get("count")))
            elif isinstance(item, list | tuple) and len(item) == 2:
                items.append((str(item[0]), item[1]))
            else:
                items.append((str(item), None))
    return items


@dataclass
class ColumnRow:
    """One line of the data dictionary as the dataset page shows it."""

    name: str
    type: str
    missing: int | None
    missing_pct: float | None
    distinct: int | None
    min: Any
    max: Any
    mean: float | None
    std: float | None
    top_values: list[tuple[str, Any]] = field(default_factory=list)
    histogram: tuple[list[float], list[float]] | None = None
    description: str = ""
    sensitivity: str = ""
    is_key: str = ""

    @property
    def is_numeric(self) -> bool:
        return self.type in {"integer", "float", "number", "numeric", "double", "bigint"}

    @property
    def values_hidden(self) -> bool:
        """Participant ids and columns tagged identifying: no example values (min, max, top values) on the page."""
        return self.is_key == "id" or self.sensitivity == "identifying"

    @property
    def sensitivity_label(self) -> str:
        return str(dict(Sensitivity.choices).get(self.sensitivity, self.sensitivity)) if self.sensitivity else ""


def column_rows(
    study: Study,
    dataset: Dataset,
    version: DatasetVersion,
    profiles: list[dict[str, Any]] | None = None,
    row_count: int | None = None,
) -> list[ColumnRow]:
    """The data dictionary of ``version`` (profiles from the version, descriptions and tags from the dataset).

    ``profiles`` / ``row_count``: the version's column profiles and row count as the reader may see them
    (``access.catalog.CatalogView``; below ``query`` every number is under the disclosure rules); default exact."""
    keys = {
        study.id_column: "id",
        study.session_column: "session",
        study.age_column: "age",
        study.sex_column: "sex",
        study.site_column: "site",
    }
    total = version.row_count if profiles is None else row_count
    rows: list[ColumnRow] = []
    for column in version.columns if profiles is None else profiles:
        name = str(column.get("name", ""))
        missing = column.get("missing")
        missing_pct = 100.0 * float(missing) / total if isinstance(missing, int | float) and total else None
        rows.append(
            ColumnRow(
                name=name,
                type=str(column.get("type", "")),
                missing=missing,
                missing_pct=missing_pct,
                distinct=column.get("distinct"),
                min=column.get("min"),
                max=column.get("max"),
                mean=_number(column.get("mean")),
                std=_number(column.get("std")),
                top_values=_top_values(column.get("top_values") or column.get("top")),
                histogram=_histogram(column.get("histogram")),
                description=dataset.column_description(name),
                sensitivity=dataset.column_sensitivity(name),
                is_key=keys.get(name, "") if name else "",
            )
        )
    return rows


def column_rows_for_view(study: Study, dataset: Dataset, version: DatasetVersion, view: CatalogView) -> list[ColumnRow]:
    """The dictionary rows of ``version`` as the caller of ``view`` may see them."""
    return column_rows(
        study, dataset, version, view.profiles(dataset.name, version), view.total(dataset.name, version).rows
    )


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


# --- History -----------------------------------------------------------------------------------------------------

_HISTORY_SKIP = {"id", "created_by", "study", "history_id", "history_date", "history_change_reason", "history_type"}
_HISTORY_SKIP |= {"history_user", "history_relation"}
_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}
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


@dataclass
class HistoryEntry:
    """One change: who, when, what object, and field-level differences."""

    at: datetime
    who: str
    kind: str  # study | dataset | version
    label: str
    action: str
    changes: list[dict[str, Any]] = field(default_factory=list)
    url_name: str = ""


def _emails(user_ids: set[Any]) -> dict[Any, str]:
    ids = {pk for pk in user_ids if pk}
    if not ids:
        return {}
    return dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "email"))


def _show(value: Any) -> str:
    if value is None or value == "":
        return "—"
    return str(value)


def _record_values(record: Any, fields: list[Any]) -> dict[str, Any]:
    return {f.name: getattr(record, f.attname) for f in fields}


def _column_meta_changes(old: Any, new: Any) -> list[dict[str, Any]]:
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
                    {
                        "field": f"{column} · {key}",
                        "old": _show(shown.get(old_value, old_value) if old_value else old_value),
                        "new": _show(shown.get(new_value, new_value) if new_value else new_value),
                    }
                )
    return changes


def _record_changes(
    model: type, previous: dict[str, Any] | None, current: dict[str, Any], names: dict[Any, str]
) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
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
        changes.append({"field": label, "old": _show(old), "new": _show(value)})
    return changes


def _history_entries(model: type, records: list[Any], names: dict[Any, str], kind: str) -> list[HistoryEntry]:
    fields = [f for f in records[0]._meta.fields if f.name not in _HISTORY_SKIP] if records else []
    entries: list[HistoryEntry] = []
    previous: dict[Any, dict[str, Any]] = {}
    for record in records:  # oldest first
        values = _record_values(record, fields)
        before = previous.get(record.id)
        action = _ACTIONS.get(record.history_type, record.history_type)
        changes = _record_changes(model, before if action != "created" else None, values, names)
        previous[record.id] = values
        if action == "changed" and not changes:
            continue
        label = values.get("name") or values.get("slug") or str(record.id)
        entries.append(
            HistoryEntry(
                at=record.history_date,
                who=str(record.history_user_id or ""),
                kind=kind,
                label=str(label),
                action=action,
                changes=changes,
            )
        )
    return entries


def study_history(study: Study, *, limit: int = 2000) -> list[HistoryEntry]:
    """The study's and its datasets' recorded changes, plus each new version, newest first."""
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
            {"field": "file", "old": "", "new": version.original_filename},
            {"field": "rows", "old": "", "new": f"{version.row_count:,}"},
        ]
        if version.note:
            changes.append({"field": "note", "old": "", "new": version.note})
        entries.append(
            HistoryEntry(
                at=version.created_at,
                who=str(version.created_by_id or ""),
                kind="version",
                label=f"{version.dataset.name} v{version.number}",
                action="uploaded",
                changes=changes,
            )
        )
    emails = _emails({int(entry.who) for entry in entries if entry.who})
    for entry in entries:
        entry.who = emails.get(int(entry.who), "a deleted user") if entry.who else "system"
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries


def sensitive_column_count(dataset: Dataset) -> int:
    """How many columns carry a sensitivity tag."""
    return sum(1 for meta in (dataset.column_meta or {}).values() if isinstance(meta, dict) and meta.get("sensitivity"))


def active_ingests(study: Study) -> QuerySet[IngestJob]:
    """Ingests of the study still queued or running."""
    return IngestJob.objects.filter(study=study).filter(Q(status=IngestStatus.QUEUED) | Q(status=IngestStatus.RUNNING))
