"""An independent, plain-Python implementation of the query semantics, over the fixture CSVs (csv module).

It shares no code with queries.core.compiler: joins are nested loops, filters are Python comparisons, site tokens come
from re.split, wide output is built with dicts. Engines must agree with it exactly (values and row order).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import re
from dataclasses import dataclass
from typing import Any

from tests.queries_core.studies import FIXTURES, STUDIES

SEPARATORS = re.compile(r"[ \t\r\n,;{}\[\]\"']+")
Row = dict[str, Any]


def _convert(text: str, ctype: str) -> Any:
    if text == "":
        return None
    if ctype == "integer":
        return int(text)
    if ctype == "float":
        return float(text)
    if ctype == "boolean":
        return {"true": True, "false": False}[text]
    if ctype == "date":
        return dt.date.fromisoformat(text)
    if ctype == "timestamp":
        return dt.datetime.fromisoformat(text)
    return text


@dataclass
class Table:
    name: str
    header: list[str]
    types: dict[str, str]
    rows: list[Row]


@dataclass
class Study:
    id: str
    session: str | None
    site: str | None
    demo: str
    tables: dict[str, Table]

    def value_type(self, dataset: str, column: str) -> str:
        return self.tables[dataset].types[column]


def load(key: str) -> Study:
    d = STUDIES[key]
    tables = {}
    for name, types in d.types.items():
        with (FIXTURES / d.folder / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            rows = [{c: _convert(v, types[c]) for c, v in zip(header, line, strict=True)} for line in reader]
        tables[name] = Table(name, header, dict(types), rows)
    return Study(d.keys.id_column, d.keys.session_column, d.keys.site_column, d.demographics, tables)


# --- semantics --------------------------------------------------------------------------------------------------


def _spec_value(study: Study, dataset: str, column: str, value: Any) -> Any:
    ctype = study.value_type(dataset, column)
    if ctype == "date" and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if ctype == "timestamp" and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    return value


def _key_value(study: Study, column: str, value: Any) -> Any:
    return int(value) if study.value_type(study.demo, column) == "integer" else str(value)


def _test(op: str, v: Any, arg: Any) -> bool:
    if op == "is_null":
        return v is None
    if op == "not_null":
        return v is not None
    if v is None:
        return False
    if op == "between":
        return arg[0] <= v <= arg[1]
    if op == "in":
        return v in arg
    if op == "not_in":
        return v not in arg
    return {
        "eq": v == arg,
        "ne": v != arg,
        "gt": v > arg,
        "gte": v >= arg,
        "lt": v < arg,
        "lte": v <= arg,
    }[op]


def joined(study: Study, spec: dict[str, Any]) -> list[str]:
    names = [n for n in spec.get("columns", {}) if n != study.demo]
    for f in spec.get("filters", []):
        if f["dataset"] != study.demo and f["dataset"] not in names:
            names.append(f["dataset"])
    return names


def _passes(study: Study, spec: dict[str, Any], demo: Row, parts: dict[str, Row | None]) -> bool:
    if spec.get("sites"):
        cell = demo[study.site]
        if cell is None or not set(spec["sites"]) & set(SEPARATORS.split(cell)):
            return False
    if spec.get("sessions"):
        wanted = {_key_value(study, study.session, s) for s in spec["sessions"]}  # type: ignore[arg-type]
        if demo[study.session] not in wanted:
            return False
    participants = {_key_value(study, study.id, p) for p in spec.get("participants", [])}
    if participants and demo[study.id] not in participants:
        return False
    for f in spec.get("filters", []):
        row = demo if f["dataset"] == study.demo else parts[f["dataset"]]
        v = None if row is None else row[f["column"]]
        raw = f.get("value")
        arg = (
            [_spec_value(study, f["dataset"], f["column"], x) for x in raw]
            if isinstance(raw, list)
            else _spec_value(study, f["dataset"], f["column"], raw)
        )
        if not _test(f["op"], v, arg):
            return False
    return True


def combos(study: Study, spec: dict[str, Any], datasets: list[str] | None = None) -> list[tuple[Any, ...]]:
    """Passing joined rows as (sort key, demo row, {dataset: row or None}) in long output order."""
    names = joined(study, spec) if datasets is None else datasets
    out = []
    for di, demo in enumerate(study.tables[study.demo].rows):
        if demo[study.id] is None:
            continue
        per = []
        for name in names:
            t = study.tables[name]
            on_session = study.session is not None and study.session in t.header
            matches = [
                (i, r)
                for i, r in enumerate(t.rows)
                if r[study.id] == demo[study.id]
                and (not on_session or (demo[study.session] is not None and r[study.session] == demo[study.session]))
            ]
            per.append(matches or [(None, None)])
        for combo in itertools.product(*per):
            parts = {n: r for n, (_, r) in zip(names, combo, strict=True)}
            if _passes(study, spec, demo, parts):
                ses = demo[study.session] if study.session else None
                order = tuple((i is None, i or 0) for i, _ in combo)
                key = (demo[study.id], ses is None, ses if ses is not None else "", di, *order)
                out.append((key, demo, parts))
    out.sort(key=lambda c: c[0])
    return out


def count(study: Study, spec: dict[str, Any]) -> tuple[int, int]:
    rows = combos(study, spec)
    ids = {demo[study.id] for _, demo, _ in rows}
    keys = {(demo[study.id], demo[study.session] if study.session else None) for _, demo, _ in rows}
    return len(ids), len(keys)


def columns(study: Study, spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(dataset, column) of every long output column, in order."""
    demo = study.tables[study.demo]
    keys = [study.id] + ([study.session] if study.session else [])
    cols = [(study.demo, k) for k in keys] + [(study.demo, c) for c in demo.header if c not in keys]
    for name, picked in spec.get("columns", {}).items():
        if name != study.demo:
            cols += [(name, c) for c in dict.fromkeys(picked)]
    return cols


def long_rows(study: Study, spec: dict[str, Any]) -> list[tuple[Any, ...]]:
    cols = columns(study, spec)
    out = []
    for _, demo, parts in combos(study, spec):
        row = []
        for ds, c in cols:
            src = demo if ds == study.demo else parts[ds]
            row.append(None if src is None else src[c])
        out.append(tuple(row))
    return out


# --- wide -------------------------------------------------------------------------------------------------------


def label(raw: Any) -> str:
    text = str(raw).strip()
    for n in ("1", "2", "3"):
        forms = {f"bas{n}", f"baseline{n}", f"base{n}", f"visit{n}", f"v{n}", n}
        if text.lower() in forms or re.fullmatch(rf"{n}\.0+", text):
            return f"BAS{n}"
    cleaned = "".join(ch for ch in text if ch.isascii() and (ch.isalnum() or ch == "_")).upper()
    return cleaned or f"SES{text}"


def natural(text: str) -> list[Any]:
    """Natural order of session labels: digit runs as numbers, text case-insensitively."""
    return [(0, int(p)) if p.isdigit() else (1, p.casefold()) for p in re.split(r"(\d+)", text) if p]


def wide(study: Study, spec: dict[str, Any], names: list[str]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Expected wide output; ``names`` are the long output names (checked separately)."""
    rows = long_rows(study, spec)
    value_idx = list(range(2, len(names)))
    by_id: dict[Any, list[tuple[Any, ...]]] = {}
    for r in rows:
        by_id.setdefault(r[0], []).append(r)
    sessions = sorted({r[1] for r in rows if r[1] is not None}, key=lambda s: (natural(str(s)), str(s)))
    labels: list[str] = []
    for s in sessions:
        if label(s) not in labels:
            labels.append(label(s))
    dynamic = {i: any(len({r[i] for r in rs if r[i] is not None}) > 1 for rs in by_id.values()) for i in value_idx}

    def first(rs: list[tuple[Any, ...]], i: int, lbl: str | None) -> Any:
        for r in rs:
            if r[i] is not None and (lbl is None or (r[1] is not None and label(r[1]) == lbl)):
                return r[i]
        return None

    bas = [b for b in ("BAS1", "BAS2", "BAS3") if b in labels]
    consolidate = spec.get("consolidate_baseline", False) and len(bas) >= 2
    out_names = [names[0]] + [names[i] for i in value_idx if not dynamic[i]]
    plan: list[tuple[int, list[str]]] = []
    for i in value_idx:
        if not dynamic[i]:
            continue
        placed = False
        for lbl in labels:
            if consolidate and lbl in bas:
                if not placed:
                    out_names.append(f"{names[i]}_BAS")
                    plan.append((i, list(reversed(bas))))
                    placed = True
                continue
            out_names.append(f"{names[i]}_{lbl}")
            plan.append((i, [lbl]))
    out = []
    for pid in sorted(by_id):
        rs = by_id[pid]
        row = [pid] + [first(rs, i, None) for i in value_idx if not dynamic[i]]
        for i, lbls in plan:
            row.append(next((v for v in (first(rs, i, lbl) for lbl in lbls) if v is not None), None))
        out.append(tuple(row))
    return out_names, out
