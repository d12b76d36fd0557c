"""The query builder's state: form fields <-> :class:`BuilderState` <-> QuerySpec dict, and the user's draft.

The builder keeps its state on the server, in the user's draft :class:`SavedQuery` of the study
(``is_draft=True``, one per user and study). Every change in the page posts the whole form; the view turns it into
a :class:`BuilderState` (:func:`form_to_state`), applies a structural action if any (:func:`state_apply_action`),
and stores it (:func:`draft_store`). The draft's ``spec`` is always the QuerySpec of the complete part of the state
(so API readers see a real spec); its ``description`` holds the full state as JSON, including filter rows that are
not complete yet, and the sequence number of the browser request that wrote it: an older request that arrives late
never overwrites a newer state.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import transaction

from core.column_types import boolean_from_text
from core.column_types import value_from_form as parse_value
from datasets.models import Study
from queries.models import SavedQuery
from queries.pages.builder_schema import StudySchema

RANGE = "between"
VALUE_OPS = ("eq", "ne", "gt", "lt")
LIST_OPS = ("in", "not_in")
NULL_OPS = ("is_null", "not_null")
OP_LABELS = {
    "between": "is in range",
    "in": "is one of",
    "not_in": "is none of",
    "eq": "equals",
    "ne": "does not equal",
    "gt": "is greater than",
    "lt": "is less than",
    "is_null": "is missing",
    "not_null": "is present",
}
STATE_MARKER = "bdt-query-builder-state"
STATE_VERSION = 1
ID_SPLIT = re.compile(r"[\s,;]+")
MAX_ROWS = 50
STALE_WINDOW_MS = 60_000  # requests older than the stored one by less than this are stale (larger gaps: a clock)


@dataclass
class FilterRow:
    """One phenotypic filter row: ``op`` is set once a column is chosen (see :data:`OP_LABELS`)."""

    dataset: str = ""
    column: str = ""
    op: str = ""
    lo: Any = None
    hi: Any = None
    value: Any = None
    values: list[Any] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        if not (self.dataset and self.column and self.op):
            return False
        if self.op == RANGE:
            return self.lo is not None or self.hi is not None
        if self.op in LIST_OPS:
            return bool(self.values)
        if self.op in VALUE_OPS:
            return self.value is not None
        return self.op in NULL_OPS


@dataclass
class BuilderState:
    age_lo: Any = None
    age_hi: Any = None
    sites: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    participants: list[str] = field(default_factory=list)
    filters: list[FilterRow] = field(default_factory=list)
    columns: dict[str, list[str]] = field(default_factory=dict)
    shape: str = "long"
    consolidate_baseline: bool = False

    @property
    def age_active(self) -> bool:
        return self.age_lo is not None or self.age_hi is not None


def ops_for(column_type: str | None) -> tuple[str, ...]:
    """The conditions the builder offers for a column type."""
    if column_type in ("integer", "float", "date", "timestamp"):
        return ("between", "eq", "ne", "gt", "lt", "in", "not_in", "is_null", "not_null")
    if column_type == "boolean":
        return ("eq", "ne", "is_null", "not_null")
    return ("in", "not_in", "eq", "ne", "is_null", "not_null")


def default_op(column_type: str | None) -> str:
    return ops_for(column_type)[0]


# --- values ------------------------------------------------------------------------------------------------------


def parse_ids(text: str) -> list[str]:
    """Participant ids pasted one per line or separated by commas/semicolons/spaces (unique, in order)."""
    return list(dict.fromkeys(part for part in ID_SPLIT.split(text or "") if part))


def value_text(value: Any) -> str:
    """A state value as a form field shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- form -> state -----------------------------------------------------------------------------------------------


def _row_indices(data: Any) -> list[int]:
    found = set()
    for key in data:
        match = re.fullmatch(r"f-(\d{1,3})-dataset", key)
        if match:
            found.add(int(match.group(1)))
    return sorted(found)


def _row_from_form(data: Any, i: int, schema: StudySchema) -> FilterRow:
    prefix = f"f-{i}-"
    dataset = (data.get(prefix + "dataset") or "").strip()
    column = (data.get(prefix + "column") or "").strip()
    ctype = schema.column_type(dataset, column)
    op = (data.get(prefix + "op") or "").strip() if column else ""
    if column and op not in ops_for(ctype):
        op = default_op(ctype)
    row = FilterRow(dataset=dataset, column=column, op=op)
    if op == RANGE:
        row.lo = parse_value(data.get(prefix + "lo"), ctype)
        row.hi = parse_value(data.get(prefix + "hi"), ctype)
    elif op in VALUE_OPS:
        row.value = parse_value(data.get(prefix + "value"), ctype)
    elif op in LIST_OPS:
        raw = list(data.getlist(prefix + "values"))
        extra = data.get(prefix + "typed")  # free-text values (numbers, or columns without a value list)
        if extra:
            raw += [part for part in re.split(r"[\n,]+", extra) if part.strip()]
        values = [parse_value(v, ctype) for v in raw]
        row.values = list(dict.fromkeys(v for v in values if v is not None))
    return row


def form_to_state(data: Any, schema: StudySchema) -> BuilderState:
    """The builder form (a QueryDict) as a state. Unknown datasets/columns are kept: the count reports them."""
    age_type = schema.age.type if schema.age else "float"
    state = BuilderState(
        age_lo=parse_value(data.get("age_lo"), age_type) if schema.age else None,
        age_hi=parse_value(data.get("age_hi"), age_type) if schema.age else None,
        sites=[s for s in data.getlist("sites") if s],
        sessions=[s for s in data.getlist("sessions") if s],
        participants=parse_ids(data.get("participants", "")),
        filters=[_row_from_form(data, i, schema) for i in _row_indices(data)][:MAX_ROWS],
        shape="wide" if data.get("shape") == "wide" and schema.longitudinal else "long",
        consolidate_baseline=data.get("consolidate_baseline") in ("on", "true", "1"),
    )
    for dataset in data.getlist("out"):
        if dataset and dataset not in state.columns:
            state.columns[dataset] = list(dict.fromkeys(c for c in data.getlist(f"cols-{dataset}") if c))
    return state


def state_apply_action(state: BuilderState, action: str, row: int | None, schema: StudySchema) -> BuilderState:
    """Apply a structural change of the page (add/remove rows, dataset or column chosen, condition changed)."""
    target = state.filters[row] if row is not None and 0 <= row < len(state.filters) else None
    if action == "add_filter" and len(state.filters) < MAX_ROWS:
        state.filters.append(FilterRow(dataset=schema.demographics if not schema.measures else ""))
    elif action == "remove_filter" and target is not None:
        state.filters.remove(target)
    elif action == "clear_filters":
        state.filters = []
    elif action == "clear_age":
        state.age_lo = state.age_hi = None
    elif action == "row_dataset" and target is not None:
        state.filters[row] = FilterRow(dataset=target.dataset)  # type: ignore[index]
    elif action == "row_column" and target is not None:
        ctype = schema.column_type(target.dataset, target.column)
        state.filters[row] = FilterRow(  # type: ignore[index]
            dataset=target.dataset, column=target.column, op=default_op(ctype) if target.column else ""
        )
    elif action == "row_op" and target is not None and target.op not in LIST_OPS:
        target.values = []
    return state


# --- state <-> spec ----------------------------------------------------------------------------------------------


def _range_filter(dataset: str, column: str, lo: Any, hi: Any) -> dict[str, Any]:
    if lo is not None and hi is not None:
        return {"dataset": dataset, "column": column, "op": "between", "value": [lo, hi]}
    if lo is not None:
        return {"dataset": dataset, "column": column, "op": "gte", "value": lo}
    return {"dataset": dataset, "column": column, "op": "lte", "value": hi}


def state_to_spec(state: BuilderState, schema: StudySchema) -> dict[str, Any]:
    """The QuerySpec (dict) of the state's complete parts; incomplete filter rows are left out (the page marks
    them). Keys with default values are omitted."""
    filters: list[dict[str, Any]] = []
    if state.age_active and schema.study.age_column:
        filters.append(_range_filter(schema.demographics, schema.study.age_column, state.age_lo, state.age_hi))
    for row in state.filters:
        if not row.complete:
            continue
        if row.op == RANGE:
            filters.append(_range_filter(row.dataset, row.column, row.lo, row.hi))
        elif row.op in LIST_OPS:
            filters.append({"dataset": row.dataset, "column": row.column, "op": row.op, "value": list(row.values)})
        elif row.op in VALUE_OPS:
            filters.append({"dataset": row.dataset, "column": row.column, "op": row.op, "value": row.value})
        else:
            filters.append({"dataset": row.dataset, "column": row.column, "op": row.op})
    spec: dict[str, Any] = {}
    if filters:
        spec["filters"] = filters
    for key in ("sites", "sessions", "participants"):
        if getattr(state, key):
            spec[key] = list(getattr(state, key))
    if state.columns:
        spec["columns"] = {name: list(cols) for name, cols in state.columns.items()}
    if state.shape == "wide":
        spec["shape"] = "wide"
    if state.consolidate_baseline:
        spec["consolidate_baseline"] = True
    return spec


def spec_to_state(spec: dict[str, Any], schema: StudySchema) -> BuilderState:
    """A QuerySpec (dict) as builder state: the first range filter on the demographics age column becomes the age
    filter; every other filter becomes a row (gte/lte are one-sided ranges)."""
    state = BuilderState(
        sites=[str(s) for s in spec.get("sites") or []],
        sessions=[str(s) for s in spec.get("sessions") or []],
        participants=[str(p) for p in spec.get("participants") or []],
        columns={str(k): [str(c) for c in v] for k, v in (spec.get("columns") or {}).items()},
        shape="wide" if spec.get("shape") == "wide" else "long",
        consolidate_baseline=bool(spec.get("consolidate_baseline")),
    )
    age_taken = False
    for raw in spec.get("filters") or []:
        dataset, column, op, value = raw.get("dataset", ""), raw.get("column", ""), raw.get("op", ""), raw.get("value")
        if schema.column_type(dataset, column) == "boolean":  # "yes", "N", 1, ... as the form shows them
            value = [_flag(v) for v in value] if isinstance(value, list) else _flag(value)
        is_age = dataset == schema.demographics and column and column == schema.study.age_column
        lo = hi = None
        if op == "between" and isinstance(value, list) and len(value) == 2:
            lo, hi = value
        elif op == "gte":
            lo = value
        elif op == "lte":
            hi = value
        if op in ("between", "gte", "lte"):
            if is_age and not age_taken:
                state.age_lo, state.age_hi, age_taken = lo, hi, True
                continue
            state.filters.append(FilterRow(dataset=dataset, column=column, op=RANGE, lo=lo, hi=hi))
        elif op in LIST_OPS:
            values = value if isinstance(value, list) else [value]
            state.filters.append(FilterRow(dataset=dataset, column=column, op=op, values=list(values)))
        elif op in NULL_OPS:
            state.filters.append(FilterRow(dataset=dataset, column=column, op=op))
        else:
            state.filters.append(FilterRow(dataset=dataset, column=column, op=op, value=value))
    return state


def _flag(value: Any) -> Any:
    """A boolean filter value written as data files spell it (yes/no, y/n, 1/0, ...) as a boolean; others as-is."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        flag = boolean_from_text(str(value))
        return value if flag is None else flag
    return value


def row_hint(row: FilterRow) -> str:
    """What a filter row still needs before it applies ('' when complete)."""
    if row.complete:
        return ""
    if not row.dataset:
        return "Not applied yet: choose a table."
    if not row.column:
        return "Not applied yet: choose a column."
    return "Not applied yet: set a value."


def incomplete_rows(state: BuilderState) -> list[int]:
    """1-based numbers of the filter rows that are not applied yet."""
    return [i + 1 for i, row in enumerate(state.filters) if not row.complete]


# --- persistence -------------------------------------------------------------------------------------------------


def state_to_json(state: BuilderState) -> dict[str, Any]:
    return asdict(state)


def state_from_json(data: dict[str, Any]) -> BuilderState:
    rows = [
        FilterRow(**{k: v for k, v in row.items() if k in FilterRow.__dataclass_fields__})
        for row in data.get("filters") or []
    ]
    fields = {k: v for k, v in data.items() if k in BuilderState.__dataclass_fields__ and k != "filters"}
    return BuilderState(**fields, filters=rows)


def _draft_query(study: Study, user: Any) -> Any:
    return SavedQuery.objects.filter(study=study, owner=user, is_draft=True).order_by("pk")


def draft_get(study: Study, user: Any) -> SavedQuery | None:
    """The user's draft for ``study`` (None before their first change)."""
    return _draft_query(study, user).first()


def _stored(draft: SavedQuery | None) -> dict[str, Any] | None:
    if draft is None:
        return None
    try:
        payload = json.loads(draft.description or "{}")
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("marker") != STATE_MARKER:
        return None
    return payload


def draft_state(study: Study, user: Any, schema: StudySchema) -> BuilderState:
    """The builder state of the user's draft (empty state when there is none)."""
    draft = draft_get(study, user)
    payload = _stored(draft)
    if payload is not None and isinstance(payload.get("state"), dict):
        try:
            return state_from_json(payload["state"])
        except TypeError:
            pass
    if draft is not None and isinstance(draft.spec, dict):
        return spec_to_state(draft.spec, schema)
    return default_state(schema)


def _whole(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def default_state(schema: StudySchema) -> BuilderState:
    """A fresh builder: the study's default age range (BDT's ``[ui]`` setting), kept within the data's ages like
    BDT's slider (``[max(min, lo), min(max, hi)]``). Clearing it leaves no age filter."""
    study, age = schema.study, schema.age
    lo, hi = study.default_age_min, study.default_age_max
    if age is None or (lo is None and hi is None):
        return BuilderState()
    if lo is not None and isinstance(age.min, int | float) and not isinstance(age.min, bool):
        lo = max(lo, float(age.min))
    if hi is not None and isinstance(age.max, int | float) and not isinstance(age.max, bool):
        hi = min(hi, float(age.max))
    return BuilderState(age_lo=None if lo is None else _whole(lo), age_hi=None if hi is None else _whole(hi))


def draft_store(study: Study, user: Any, state: BuilderState, schema: StudySchema, seq: int | None = None) -> bool:
    """Store ``state`` as the user's draft; False (nothing written) when a newer request already stored one."""
    with transaction.atomic():
        draft = _draft_query(study, user).select_for_update().first()
        previous = _stored(draft)
        stored_seq = int((previous or {}).get("seq") or 0)
        if seq is not None and 0 < stored_seq - seq < STALE_WINDOW_MS:
            return False  # a newer request of the page stored its state already
        seq = stored_seq if seq is None else seq
        if draft is None:
            draft = SavedQuery(study=study, owner=user, is_draft=True, name="Draft", shared=False)
        payload = {"marker": STATE_MARKER, "version": STATE_VERSION, "seq": seq, "state": state_to_json(state)}
        draft.description = json.dumps(payload, default=str)
        draft.spec = state_to_spec(state, schema)
        draft.save()
    return True


def draft_replace_from_spec(study: Study, user: Any, spec: dict[str, Any], schema: StudySchema) -> BuilderState:
    """Load a spec (a saved query, an import) into the user's draft, replacing its state."""
    state = spec_to_state(spec, schema)
    draft_store(study, user, state, schema, seq=None)
    return state
