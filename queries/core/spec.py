"""QuerySpec (the public JSON shape of a cohort query) and its validation against a :class:`StudyCatalog`.

``spec_parse`` turns JSON-ish data into a :class:`QuerySpec` (structure only); ``spec_validate`` checks every name
against the catalog and coerces every value to the column's type, returning a :class:`ValidatedSpec` that the
compiler consumes. Problems raise :class:`SpecError` with a stable ``code``:

``invalid_spec`` (structure), ``unknown_dataset``, ``unknown_column``, ``key_column`` (id/session columns in filters
or picks: use ``participants`` / ``sessions``), ``invalid_operator`` (op not defined for the column type),
``invalid_value`` (wrong type/shape, ``between`` with lo > hi, empty ``in``, NUL characters, ...),
``not_longitudinal`` (``sessions`` on a cross-sectional study), ``no_site_column``, ``too_large``.

Value rules: integer/float columns take JSON numbers (fractions allowed on integer columns: ``between [17.5, 30]``),
never strings or booleans; string columns take strings; boolean columns take true/false or the spellings data files
use (yes/no, y/n, true/false, 1/0, any letter case); date/timestamp columns take
ISO-8601 strings. Range ops (between/gt/gte/lt/lte) exist for numbers, dates and timestamps only (string order
depends on the engine's collation). A missing value never satisfies a value comparison (``ne`` and ``not_in``
included); ``is_null`` also matches participants that have no row in a joined dataset.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from core.column_types import ORDERED_TYPES, CoercionError, ColumnType, key_value_from_json, text_value, value_from_json
from core.column_types import shown as show
from queries.core.catalog import StudyCatalog

FilterOp = Literal["between", "in", "not_in", "eq", "ne", "gt", "gte", "lt", "lte", "is_null", "not_null"]
Shape = Literal["long", "wide"]
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr
Value = Any  # a coerced value: int | float | str | bool | date | datetime

RANGE_OPS = frozenset({"between", "gt", "gte", "lt", "lte"})
LIST_OPS = frozenset({"in", "not_in"})
NULL_OPS = frozenset({"is_null", "not_null"})
#: Characters that separate tokens inside a multi-valued site cell (see compiler ``site`` condition).
SITE_SEPARATORS = " \t\r\n,;{}[]\"'"
_HASH_VERSION = 1


class SpecError(ValueError):
    """A user-facing validation error: ``code`` (snake_case), human ``message``, JSON-safe ``details``."""

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: StrictStr
    column: StrictStr
    op: FilterOp
    value: Scalar | list[Scalar | None] | None = None


class QuerySpec(BaseModel):
    """The cohort query, exactly the JSON of docs/contract.md (unknown keys are rejected)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    filters: list[Filter] = Field(default_factory=list)
    sites: list[StrictStr] = Field(default_factory=list)
    sessions: list[StrictStr | StrictInt] = Field(default_factory=list)
    participants: list[StrictStr | StrictInt] = Field(default_factory=list)
    columns: dict[StrictStr, list[StrictStr]] = Field(default_factory=dict)
    shape: Shape = "long"
    consolidate_baseline: StrictBool = False
    exclude: list[StrictStr] = Field(default_factory=list)  # demographics columns left out of the output


@dataclass(frozen=True)
class SpecLimits:
    """Size guards for one spec (callers may pass tenant-specific limits)."""

    max_filters: int = 200
    max_list_values: int = 10_000
    #: Values of every list in the spec together (``in``/``not_in`` filters, sites, sessions): each one becomes SQL.
    max_total_values: int = 20_000
    max_participants: int = 100_000
    max_string_length: int = 10_000


@dataclass(frozen=True)
class ResolvedFilter:
    index: int
    dataset: str
    column: str
    type: ColumnType
    op: FilterOp
    values: tuple[Value, ...]  # () for null ops, (v,) for scalar ops, (lo, hi) for between, (v, ...) for lists


@dataclass(frozen=True)
class ValidatedSpec:
    spec: QuerySpec
    catalog: StudyCatalog
    filters: tuple[ResolvedFilter, ...]
    sites: tuple[str, ...]
    sessions: tuple[Value, ...]
    participants: tuple[Value, ...]
    picks: tuple[tuple[str, tuple[str, ...]], ...]  # non-demographics datasets in `columns` order, deduped columns
    joined: tuple[str, ...]  # every non-demographics dataset named in columns or filters (columns order first)
    shape: Shape
    consolidate_baseline: bool
    excluded: tuple[str, ...] = ()  # demographics (non-key) columns left out of the output

    @property
    def filter_datasets(self) -> tuple[str, ...]:
        """Non-demographics datasets that carry filters (the only joins that can change a count)."""
        names = {f.dataset for f in self.filters}
        return tuple(d for d in self.joined if d in names)


@dataclass(frozen=True)
class SpecUse:
    """What a spec touches — the one place this is computed: the datasets it reads (the demographics table, every
    filtered dataset, every dataset with picked columns), the columns it names per dataset, and whether it lists
    participants. Authorization, cache keys and version pinning all read it."""

    datasets: frozenset[str]
    columns: Mapping[str, frozenset[str]]
    participant_list: bool


def spec_use(spec: QuerySpec, demographics: str | None) -> SpecUse:
    """What ``spec`` touches in a study whose demographics table is ``demographics`` (None: the study has none)."""
    datasets: set[str] = {demographics} if demographics else set()
    columns: dict[str, set[str]] = {}
    for f in spec.filters:
        datasets.add(f.dataset)
        columns.setdefault(f.dataset, set()).add(f.column)
    for name, picked in spec.columns.items():
        datasets.add(name)
        columns.setdefault(name, set()).update(picked)
    return SpecUse(
        datasets=frozenset(datasets),
        columns={name: frozenset(cols) for name, cols in columns.items()},
        participant_list=bool(spec.participants),
    )


def spec_with_excluded(spec: QuerySpec, columns: set[str]) -> QuerySpec:
    """``spec`` with ``columns`` added to its ``exclude`` list (demographics columns left out of the output)."""
    present = list(spec.exclude)
    missing = sorted(columns - set(present))
    return spec if not missing else spec.model_copy(update={"exclude": [*present, *missing]})


def spec_parse(data: QuerySpec | Mapping[str, Any] | str | bytes) -> QuerySpec:
    """Parse JSON text or a mapping into a QuerySpec; structural problems raise ``SpecError('invalid_spec')``."""
    if isinstance(data, QuerySpec):
        return data
    try:
        if isinstance(data, str | bytes):
            return QuerySpec.model_validate_json(data)
        return QuerySpec.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"loc": ".".join(str(p) for p in e["loc"]), "type": e["type"], "message": show(e["msg"], 200)}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise SpecError("invalid_spec", "The query specification is malformed.", {"errors": errors[:20]}) from None


# --- value coercion -------------------------------------------------------------------------------------------


def coerce_value(value: object, ctype: ColumnType, limits: SpecLimits, where: dict[str, Any]) -> Value:
    """Coerce one JSON value to ``ctype`` or raise ``invalid_value`` (strict: no string<->number guessing)."""
    try:
        return value_from_json(value, ctype, max_text_length=limits.max_string_length)  # type: ignore[no-any-return]
    except CoercionError as exc:
        raise SpecError("invalid_value", exc.message, where) from None


def coerce_key(value: str | int, ctype: ColumnType, limits: SpecLimits, where: dict[str, Any]) -> Value:
    """Coerce a participant id / session value (given as text or integer) to its key column's type."""
    try:
        return key_value_from_json(value, ctype, max_text_length=limits.max_string_length)  # type: ignore[no-any-return]
    except CoercionError as exc:
        raise SpecError("invalid_value", exc.message, where) from None


def _resolve_filter(i: int, f: Filter, catalog: StudyCatalog, limits: SpecLimits) -> ResolvedFilter:
    where: dict[str, Any] = {"filter_index": i, "dataset": show(f.dataset), "column": show(f.column)}
    ds = catalog.dataset(f.dataset)
    if ds is None:
        raise SpecError("unknown_dataset", f"Unknown dataset {show(f.dataset)!r}.", where)
    col = ds.column(f.column)
    if col is None:
        raise SpecError("unknown_column", f"Dataset {ds.name!r} has no column {show(f.column)!r}.", where)
    if catalog.is_key_column(ds.name, col.name):
        raise SpecError(
            "key_column",
            f"{col.name!r} is a key column; use 'participants' or 'sessions' to restrict it.",
            where,
        )
    op, raw = f.op, f.value
    if op in RANGE_OPS and col.type not in ORDERED_TYPES:
        raise SpecError("invalid_operator", f"Operator {op!r} is not defined for {col.type} columns.", where)
    if op in NULL_OPS:
        if raw is not None:
            raise SpecError("invalid_value", f"Operator {op!r} takes no value.", where)
        return ResolvedFilter(i, ds.name, col.name, col.type, op, ())
    if op == "between" or op in LIST_OPS:
        if not isinstance(raw, list):
            raise SpecError("invalid_value", f"Operator {op!r} needs a list.", where)
        values = tuple(coerce_value(v, col.type, limits, where) for v in raw)
        if op == "between":
            if len(values) != 2:
                raise SpecError("invalid_value", "'between' needs exactly [low, high].", where)
            if values[0] > values[1]:
                raise SpecError("invalid_value", "'between' needs low <= high.", where)
            return ResolvedFilter(i, ds.name, col.name, col.type, op, values)
        if not values:
            raise SpecError("invalid_value", f"Operator {op!r} needs at least one value.", where)
        if len(values) > limits.max_list_values:
            raise SpecError("too_large", f"Too many values (limit {limits.max_list_values}).", where)
        return ResolvedFilter(i, ds.name, col.name, col.type, op, tuple(dict.fromkeys(values)))
    if isinstance(raw, list):
        raise SpecError("invalid_value", f"Operator {op!r} takes a single value, not a list.", where)
    return ResolvedFilter(i, ds.name, col.name, col.type, op, (coerce_value(raw, col.type, limits, where),))


def list_values_total(spec: QuerySpec) -> int:
    """How many list values ``spec`` holds in all: its ``in``/``not_in`` filters' values, its sites and sessions
    (the participant list has its own limit)."""
    listed = sum(len(f.value) for f in spec.filters if f.op in LIST_OPS and isinstance(f.value, list))
    return listed + len(spec.sites) + len(spec.sessions)


def _check_total_values(spec: QuerySpec, limits: SpecLimits) -> None:
    """Refuse a spec whose lists together hold more than ``max_total_values`` values (each becomes SQL)."""
    total = list_values_total(spec)
    if total > limits.max_total_values:
        raise SpecError(
            "too_large",
            f"Too many list values in total: {total:,} across the filters, sites and sessions "
            f"(limit {limits.max_total_values:,}).",
            {"list_values": total, "max_list_values_total": limits.max_total_values},
        )


def spec_validate(
    spec: QuerySpec | Mapping[str, Any] | str | bytes, catalog: StudyCatalog, limits: SpecLimits | None = None
) -> ValidatedSpec:
    """Check ``spec`` against ``catalog``; raise :class:`SpecError` on the first problem."""
    spec = spec_parse(spec)
    limits = limits or SpecLimits()
    keys = catalog.keys
    if len(spec.filters) > limits.max_filters:
        raise SpecError("too_large", f"Too many filters (limit {limits.max_filters}).", {})
    _check_total_values(spec, limits)
    filters = tuple(_resolve_filter(i, f, catalog, limits) for i, f in enumerate(spec.filters))

    sites: tuple[str, ...] = ()
    if spec.sites:
        if keys.site_column is None:
            raise SpecError("no_site_column", "This study has no site column; remove 'sites'.", {})
        site_type = catalog.demo.type_of(keys.site_column)
        if site_type not in ("string", "integer"):
            raise SpecError("invalid_operator", f"Site filtering needs a text site column, not {site_type}.", {})
        for s in spec.sites:
            where = {"site": show(s)}
            try:
                text_value(s, max_length=limits.max_string_length)
            except CoercionError as exc:
                raise SpecError("invalid_value", exc.message, where) from None
            if not s or any(ch in SITE_SEPARATORS for ch in s):
                raise SpecError("invalid_value", "A site name must be a single non-empty token.", where)
        sites = tuple(dict.fromkeys(spec.sites))
        if len(sites) > limits.max_list_values:
            raise SpecError("too_large", f"Too many sites (limit {limits.max_list_values}).", {})

    sessions: tuple[Value, ...] = ()
    if spec.sessions:
        if keys.session_column is None:
            raise SpecError("not_longitudinal", "This study is cross-sectional; it has no sessions.", {})
        stype = catalog.demo.type_of(keys.session_column)
        if len(spec.sessions) > limits.max_list_values:
            raise SpecError("too_large", f"Too many sessions (limit {limits.max_list_values}).", {})
        sessions = tuple(dict.fromkeys(coerce_key(s, stype, limits, {"session": show(s)}) for s in spec.sessions))

    participants: tuple[Value, ...] = ()
    if spec.participants:
        if len(spec.participants) > limits.max_participants:
            raise SpecError("too_large", f"Too many participants (limit {limits.max_participants}).", {})
        itype = catalog.demo.type_of(keys.id_column)
        participants = tuple(
            dict.fromkeys(coerce_key(p, itype, limits, {"participant": show(p)}) for p in spec.participants)
        )

    picks: list[tuple[str, tuple[str, ...]]] = []
    for ds_name, cols in spec.columns.items():
        ds = catalog.dataset(ds_name)
        if ds is None:
            raise SpecError("unknown_dataset", f"Unknown dataset {show(ds_name)!r}.", {"dataset": show(ds_name)})
        for c in cols:
            where = {"dataset": ds.name, "column": show(c)}
            if not ds.has(c):
                raise SpecError("unknown_column", f"Dataset {ds.name!r} has no column {show(c)!r}.", where)
            if catalog.is_key_column(ds.name, c):
                raise SpecError("key_column", f"{c!r} is a key column; key columns are always output.", where)
        if ds.name != catalog.demographics:  # demographics columns are always output
            picks.append((ds.name, tuple(dict.fromkeys(cols))))

    excluded: list[str] = []
    for c in spec.exclude:
        where = {"dataset": catalog.demo.name, "column": show(c)}
        if not catalog.demo.has(c):
            raise SpecError("unknown_column", f"Dataset {catalog.demo.name!r} has no column {show(c)!r}.", where)
        if catalog.is_key_column(catalog.demo.name, c):
            raise SpecError("key_column", f"{c!r} is a key column; key columns are always output.", where)
        excluded.append(c)

    joined = [name for name, _ in picks]
    joined += [f.dataset for f in filters if f.dataset != catalog.demographics and f.dataset not in joined]
    return ValidatedSpec(
        spec=spec,
        catalog=catalog,
        filters=filters,
        sites=sites,
        sessions=sessions,
        participants=participants,
        picks=tuple(picks),
        joined=tuple(dict.fromkeys(joined)),
        shape=spec.shape,
        consolidate_baseline=spec.consolidate_baseline,
        excluded=tuple(dict.fromkeys(excluded)),
    )


# --- canonical hash --------------------------------------------------------------------------------------------


def _canon_scalar(v: object) -> object:
    if isinstance(v, float) and math.isfinite(v) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _canon_set(values: Sequence[object]) -> list[object]:
    """Order-insensitive, duplicate-insensitive list (sorted by canonical JSON of each item)."""
    items = {json.dumps(_canon_scalar(v), sort_keys=True): _canon_scalar(v) for v in values}
    return [items[k] for k in sorted(items)]


def spec_canonical(spec: QuerySpec | Mapping[str, Any] | str | bytes) -> dict[str, Any]:
    """The canonical form hashed by :func:`spec_hash`.

    Order-insensitive: values inside in/not_in, sites, sessions, participants. Order-sensitive: filters (the
    filtering report follows them), datasets and columns in ``columns`` (the output column order), between bounds.
    ``consolidate_baseline`` only counts for wide output; integral floats equal integers (``1.0`` == ``1``).
    ``exclude`` is a set and only appears when not empty (so specs without it keep their hashes).
    """
    spec = spec_parse(spec)
    filters = []
    for f in spec.filters:
        value: object
        if f.op in LIST_OPS and isinstance(f.value, list):
            value = _canon_set(f.value)
        elif isinstance(f.value, list):
            value = [_canon_scalar(v) for v in f.value]
        else:
            value = _canon_scalar(f.value)
        filters.append({"dataset": f.dataset, "column": f.column, "op": f.op, "value": value})
    canonical: dict[str, Any] = {
        "v": _HASH_VERSION,
        "filters": filters,
        "sites": _canon_set(spec.sites),
        "sessions": _canon_set(spec.sessions),
        "participants": _canon_set(spec.participants),
        "columns": [[name, list(dict.fromkeys(cols))] for name, cols in spec.columns.items()],
        "shape": spec.shape,
        "consolidate_baseline": bool(spec.consolidate_baseline and spec.shape == "wide"),
    }
    if spec.exclude:
        canonical["exclude"] = _canon_set(spec.exclude)
    return canonical


#: The largest spec (its compact JSON, in bytes) an audit event holds in full; a larger one is recorded by its hash
#: (always in the event) and its size, so a flood of huge specs cannot bloat the audit chain.
AUDIT_SPEC_MAX_BYTES = 64 * 1024


def spec_audit_details(spec: QuerySpec) -> dict[str, Any]:
    """The spec as an audit event records it: ``{"spec": <the spec>}`` up to :data:`AUDIT_SPEC_MAX_BYTES`, else
    ``{"spec": None, "spec_truncated": True, "spec_bytes": <size>}`` (the caller records ``spec_hash`` either way)."""
    dumped = spec.model_dump(mode="json")
    size = len(json.dumps(dumped, separators=(",", ":"), ensure_ascii=False).encode())
    if size <= AUDIT_SPEC_MAX_BYTES:
        return {"spec": dumped}
    return {"spec": None, "spec_truncated": True, "spec_bytes": size}


def spec_hash(spec: QuerySpec | Mapping[str, Any] | str | bytes) -> str:
    """sha256 (hex) of the canonical JSON of ``spec`` (stable across processes and key order)."""
    text = json.dumps(spec_canonical(spec), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()
