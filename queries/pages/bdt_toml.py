"""BDT query-parameter files (TOML) <-> QuerySpec dicts. Pure functions, no Django.

The format is BDT's (bdt-reference.md §1.4)::

    [metadata]            export_timestamp, app_version, format_version, user_notes
    [cohort_filters]      age_range = [lo, hi], substudies = [...], sessions = [...]
    [[phenotypic_filters]] id, table, column, filter_type = "range" | "categorical", enabled,
                          min_val / max_val (range) or selected_values (categorical)
    [export_selection]    selected_tables, selected_columns = {table = [cols]}, enwiden_longitudinal,
                          consolidate_baseline

Differences from BDT, all deliberate:

* ``range`` filters keep their bounds on import (BDT loses them); a range with only ``min_val`` or only ``max_val``
  is one-sided (``gte`` / ``lte``). BDT's legacy ``numeric`` type is read as ``range``.
* Unknown tables and columns are reported as errors and nothing is imported (BDT drops them silently); disabled
  filters and key columns in a column selection are skipped with a note.
* Extensions for what BDT cannot express: ``[cohort_filters] participants = [...]``; ``categorical`` with
  ``exclude = true`` (not_in); ``filter_type = "comparison"`` with ``op`` (eq, ne, gt, lt) and ``value``;
  ``filter_type = "missing"`` with ``op`` (is_null, not_null).
* The table name ``demographics`` always means the study's demographics table, whatever its name.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.column_types import value_from_toml

APP_VERSION = "1.0.0"
FORMAT_VERSION = "1.0"
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
COMPARISON_OPS = ("eq", "ne", "gt", "lt")
MISSING_OPS = ("is_null", "not_null")

Columns = Mapping[str, Mapping[str, str]]  # dataset -> {column: type}


@dataclass
class ImportResult:
    """An imported spec, the errors that stop it from being applied, and notes about skipped parts."""

    spec: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# --- writing -----------------------------------------------------------------------------------------------------


def _string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _key(name: str) -> str:
    return name if BARE_KEY.match(name) else _string(name)


def toml_value(value: Any) -> str:
    """One TOML value (strings, booleans, integers, finite floats, lists, inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("TOML cannot hold NaN or infinity here.")
        text = repr(value)
        return text if any(c in text for c in ".eE") else text + ".0"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise ValueError(f"Cannot write {type(value).__name__} to TOML.")


def _lines(table: Mapping[str, Any]) -> list[str]:
    return [f"{_key(k)} = {toml_value(v)}" for k, v in table.items() if v is not None]


def _filter_entry(index: int, f: Mapping[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": index, "table": f["dataset"], "column": f["column"]}
    op: str = f["op"]
    value: Any = f.get("value")
    if op == "between":
        entry.update(filter_type="range", enabled=True, min_val=value[0], max_val=value[1])
    elif op in ("gte", "lte"):
        entry.update(filter_type="range", enabled=True)
        entry["min_val" if op == "gte" else "max_val"] = value
    elif op in ("in", "not_in"):
        entry.update(filter_type="categorical", enabled=True, selected_values=list(value or []))
        if op == "not_in":
            entry["exclude"] = True
    elif op in MISSING_OPS:
        entry.update(filter_type="missing", enabled=True, op=op)
    else:
        entry.update(filter_type="comparison", enabled=True, op=op, value=value)
    return entry


def spec_to_toml(
    spec: Mapping[str, Any],
    *,
    demographics: str,
    age_column: str | None,
    notes: str = "",
    now: dt.datetime | None = None,
) -> str:
    """The spec as a BDT query-parameter file (age ``between`` on the demographics age column -> ``age_range``)."""
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat()
    out = ["# BDT query parameters, written by BDT Platform", "", "[metadata]"]
    out += _lines(
        {
            "export_timestamp": stamp,
            "app_version": APP_VERSION,
            "format_version": FORMAT_VERSION,
            "user_notes": notes or None,
        }
    )
    filters = list(spec.get("filters") or [])
    cohort: dict[str, Any] = {}
    for i, f in enumerate(filters):
        if (f["dataset"], f["column"], f["op"]) == (demographics, age_column, "between"):
            cohort["age_range"] = list(f["value"])
            filters.pop(i)
            break
    for key, source in (("substudies", "sites"), ("sessions", "sessions"), ("participants", "participants")):
        if spec.get(source):
            cohort[key] = list(spec[source])
    if cohort:
        out += ["", "[cohort_filters]", *_lines(cohort)]
    for i, f in enumerate(filters, start=1):
        out += ["", "[[phenotypic_filters]]", *_lines(_filter_entry(i, f))]
    columns = dict(spec.get("columns") or {})
    out += ["", "[export_selection]"]
    out += _lines(
        {
            "selected_tables": [name for name in columns if name != demographics],
            "enwiden_longitudinal": spec.get("shape") == "wide",
            "consolidate_baseline": bool(spec.get("consolidate_baseline")),
        }
    )
    picked = {name: list(cols) for name, cols in columns.items() if cols}
    if picked:
        out += ["", "[export_selection.selected_columns]", *_lines(picked)]
    return "\n".join(out) + "\n"


# --- reading -----------------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, columns: Columns, demographics: str, keys: set[str]) -> None:
        self.columns, self.demographics, self.keys = columns, demographics, keys
        self.result = ImportResult()

    def table(self, name: Any, where: str) -> str | None:
        if not isinstance(name, str) or not name:
            self.result.errors.append(f"{where}: a table name is missing.")
            return None
        if name == "demographics" and name not in self.columns:
            return self.demographics
        if name not in self.columns:
            known = ", ".join(sorted(self.columns)) or "none"
            self.result.errors.append(f"{where}: unknown table {name!r} (tables of this study: {known}).")
            return None
        return name

    def column(self, table: str, name: Any, where: str) -> str | None:
        if not isinstance(name, str) or name not in self.columns[table]:
            self.result.errors.append(f"{where}: table {table!r} has no column {name!r}.")
            return None
        return name

    def filter(self, entry: Any, number: int) -> dict[str, Any] | None:
        where = f"Phenotypic filter {number}"
        if not isinstance(entry, dict):
            self.result.errors.append(f"{where}: not a table.")
            return None
        table = self.table(entry.get("table"), where)
        column = self.column(table, entry.get("column"), where) if table else None
        if table is None or column is None:
            return None
        label = f"{where} ({table}.{column})"
        if entry.get("enabled") is False:
            self.result.notes.append(f"{label} is disabled in the file and was skipped.")
            return None
        ctype = self.columns[table][column]
        kind = entry.get("filter_type", entry.get("type"))
        base = {"dataset": table, "column": column}
        if kind in ("range", "numeric"):
            lo, hi = value_from_toml(entry.get("min_val"), ctype), value_from_toml(entry.get("max_val"), ctype)
            if lo is None and hi is None:
                self.result.errors.append(f"{label}: a range needs min_val and/or max_val.")
                return None
            if lo is not None and hi is not None:
                return {**base, "op": "between", "value": [lo, hi]}
            return {**base, "op": "gte", "value": lo} if lo is not None else {**base, "op": "lte", "value": hi}
        if kind == "categorical":
            values = entry.get("selected_values")
            if not isinstance(values, list) or not values:
                self.result.errors.append(f"{label}: selected_values must list at least one value.")
                return None
            op = "not_in" if entry.get("exclude") else "in"
            return {**base, "op": op, "value": [value_from_toml(v, ctype) for v in values]}
        if kind == "comparison" and entry.get("op") in COMPARISON_OPS and "value" in entry:
            return {**base, "op": entry["op"], "value": value_from_toml(entry["value"], ctype)}
        if kind == "missing" and entry.get("op") in MISSING_OPS:
            return {**base, "op": entry["op"]}
        self.result.errors.append(f"{label}: unsupported filter_type {kind!r}.")
        return None


def toml_to_spec(
    text: str | bytes,
    *,
    columns: Columns,
    demographics: str,
    age_column: str | None,
    keys: set[str],
    has_sites: bool,
    longitudinal: bool,
) -> ImportResult:
    """Read a BDT query-parameter file against the study's tables (``columns``: dataset -> {column: type})."""
    reader = _Reader(columns, demographics, keys)
    result = reader.result
    try:
        data = tomllib.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        result.errors.append(f"The file is not valid UTF-8 TOML: {exc}")
        return result
    spec: dict[str, Any] = {}
    filters: list[dict[str, Any]] = []
    cohort = data.get("cohort_filters") or {}
    age = cohort.get("age_range")
    if age is not None:
        if not age_column:
            result.errors.append("age_range is set, but this study has no age column.")
        elif not (isinstance(age, list) and len(age) == 2):
            result.errors.append("age_range must be [min, max].")
        else:
            filters.append({"dataset": demographics, "column": age_column, "op": "between", "value": list(age)})
    for key, target, allowed, why in (
        ("substudies", "sites", has_sites, "this study has no site column"),
        ("sessions", "sessions", longitudinal, "this study is cross-sectional"),
        ("participants", "participants", True, ""),
    ):
        values = cohort.get(key)
        if values:
            if not allowed:
                result.errors.append(f"{key} are set, but {why}.")
            elif not isinstance(values, list):
                result.errors.append(f"{key} must be a list.")
            else:
                spec[target] = [str(v) for v in values]
    for number, entry in enumerate(data.get("phenotypic_filters") or [], start=1):
        found = reader.filter(entry, number)
        if found is not None:
            filters.append(found)
    if filters:
        spec = {"filters": filters, **spec}
    selection = data.get("export_selection") or {}
    picked: dict[str, list[str]] = {}
    for name in selection.get("selected_tables") or []:
        table = reader.table(name, "Selected tables")
        if table is not None and table != demographics:
            picked.setdefault(table, [])
    for name, cols in (selection.get("selected_columns") or {}).items():
        table = reader.table(name, "Selected columns")
        if table is None:
            continue
        for col in cols if isinstance(cols, list) else []:
            if col in keys:
                result.notes.append(f"Key column {table}.{col} is always included; skipped.")
            elif reader.column(table, col, "Selected columns") is not None and table != demographics:
                picked.setdefault(table, [])
                if col not in picked[table]:
                    picked[table].append(col)
    if picked:
        spec["columns"] = picked
    if selection.get("enwiden_longitudinal"):
        if longitudinal:
            spec["shape"] = "wide"
        else:
            result.notes.append("enwiden_longitudinal was ignored: this study is cross-sectional.")
    if selection.get("consolidate_baseline"):
        spec["consolidate_baseline"] = True
    result.spec = spec
    return result


def spec_unknown_names(spec: Mapping[str, Any], columns: Columns) -> list[str]:
    """Unknown datasets and columns named by a (JSON-imported) spec, as sentences."""
    problems: list[str] = []
    for i, f in enumerate(spec.get("filters") or [], start=1):
        name, col = f.get("dataset"), f.get("column")
        if name not in columns:
            problems.append(f"Filter {i}: unknown dataset {name!r}.")
        elif col not in columns[name]:
            problems.append(f"Filter {i}: dataset {name!r} has no column {col!r}.")
    for name, cols in (spec.get("columns") or {}).items():
        if name not in columns:
            problems.append(f"Output columns: unknown dataset {name!r}.")
            continue
        problems += [f"Output columns: dataset {name!r} has no column {c!r}." for c in cols if c not in columns[name]]
    return problems


def spec_json(spec: Mapping[str, Any]) -> str:
    """The spec as pretty JSON (the raw QuerySpec export)."""
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"
