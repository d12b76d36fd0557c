"""A QuerySpec in words, for run pages and lists."""

from __future__ import annotations

from typing import Any

from datasets.models import Study
from queries.pages.builder import OP_LABELS

EXTRA_LABELS = {"gte": "is at least", "lte": "is at most"}
MAX_LISTED = 8


def _listed(values: list[Any]) -> str:
    shown = ", ".join(str(v) for v in values[:MAX_LISTED])
    return shown + (f" and {len(values) - MAX_LISTED} more" if len(values) > MAX_LISTED else "")


def filter_text(f: dict[str, Any]) -> str:
    """``cognitive.working_memory is in range 90 - 110`` (an en dash between the bounds)."""
    op, value = f.get("op", ""), f.get("value")
    label = OP_LABELS.get(op) or EXTRA_LABELS.get(op) or op
    where = f"{f.get('dataset')}.{f.get('column')}"
    if op == "between" and isinstance(value, list) and len(value) == 2:
        return f"{where} {label} {value[0]} – {value[1]}"
    if op in ("in", "not_in") and isinstance(value, list):
        return f"{where} {label} {_listed(value)}"
    if op in ("is_null", "not_null"):
        return f"{where} {label}"
    return f"{where} {label} {value}"


def spec_summary(spec: dict[str, Any], study: Study) -> list[tuple[str, str]]:
    """(label, text) lines describing the spec; filters in their order."""
    lines: list[tuple[str, str]] = []
    if spec.get("sites"):
        lines.append(("Sites", _listed(list(spec["sites"]))))
    if spec.get("sessions"):
        lines.append(("Sessions", _listed(list(spec["sessions"]))))
    if spec.get("participants"):
        count = len(spec["participants"])
        lines.append(("Participants", f"{count} listed ID{'s' if count != 1 else ''}: {_listed(spec['participants'])}"))
    for i, f in enumerate(spec.get("filters") or [], start=1):
        lines.append((f"Filter {i}", filter_text(f)))
    if not lines:
        lines.append(("Filters", "none — every participant"))
    columns = spec.get("columns") or {}
    if columns:
        for name, cols in columns.items():
            lines.append((f"Output: {name}", ", ".join(cols) if cols else "joined, no columns picked"))
    else:
        lines.append(("Output", "demographics columns only"))
    if spec.get("exclude"):
        lines.append(("Left out", _listed(list(spec["exclude"]))))
    shape = spec.get("shape", "long")
    text = (
        "wide (one row per participant)"
        if shape == "wide"
        else "long (one row per " + ("participant-session)" if study.is_longitudinal else "participant)")
    )
    if shape == "wide" and spec.get("consolidate_baseline"):
        text += ", baseline sessions consolidated"
    lines.append(("Shape", text))
    return lines


EXPORT_FORMATS = (("csv", "CSV"), ("parquet", "Parquet"), ("zip", "ZIP"))


def panel_context(run: Any, **extra: Any) -> dict[str, Any]:
    """Context of the run panel: the run, its duration in seconds, the export formats.

    ``shown_rows`` (the row count as the caller may see it, ``protected_results.run_row_count_for_user``) is None
    unless the caller passes it."""
    extra.setdefault("shown_rows", None)
    duration = None
    if run is not None and run.started_at and run.finished_at:
        duration = round((run.finished_at - run.started_at).total_seconds(), 2)
    return {"run": run, "duration": duration, "export_formats": EXPORT_FORMATS, **extra}
