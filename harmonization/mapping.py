"""Harmonized variables as plain data, and how a filter on a variable becomes a filter on a study's column.

Django-free. A variable has a type (``number``, ``string``, ``boolean``) and per study a source column; a number
source value v is harmonized as ``v * scale + offset``; a category source value through its recode map (a source
value without a recode entry is missing in harmonized units). A filter on the variable is translated into a filter
on the source column with the inverse transform (range directions flip for a negative scale) or the recode map's
pre-images, so each study counts with the semantics of a study count. A filter no source value can satisfy is
:data:`NO_MATCH`: that study matches no one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

VariableType = Literal["number", "string", "boolean"]
VARIABLE_TYPES: tuple[str, ...] = ("number", "string", "boolean")
RANGE_OPS = frozenset({"between", "gt", "gte", "lt", "lte"})
LIST_OPS = frozenset({"in", "not_in"})
NULL_OPS = frozenset({"is_null", "not_null"})
OPS = frozenset({"eq", "ne", *RANGE_OPS, *LIST_OPS, *NULL_OPS})
FLIPPED = {"gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}
NUMERIC_SOURCES = frozenset({"integer", "float"})


class MappingError(ValueError):
    """A filter or definition that cannot be used: ``code`` and a human ``message``, ``details`` for the API."""

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details or {})


@dataclass(frozen=True)
class Source:
    """Where a variable comes from in one study."""

    study: str
    dataset: str
    column: str
    scale: float | None = None
    offset: float | None = None
    recode: Mapping[str, str] | None = None

    @property
    def linear(self) -> tuple[float, float]:
        return (1.0 if self.scale is None else float(self.scale), 0.0 if self.offset is None else float(self.offset))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"study": self.study, "dataset": self.dataset, "column": self.column}
        if self.scale is not None:
            out["scale"] = self.scale
        if self.offset is not None:
            out["offset"] = self.offset
        if self.recode is not None:
            out["recode"] = dict(self.recode)
        return out


@dataclass(frozen=True)
class Variable:
    """A harmonized variable and its sources (at most one per study)."""

    name: str
    type: VariableType
    label: str = ""
    unit: str = ""
    sources: tuple[Source, ...] = field(default_factory=tuple)

    def source_for(self, study: str) -> Source | None:
        return next((source for source in self.sources if source.study == study), None)


@dataclass(frozen=True)
class NoMatch:
    """A filter that no source value satisfies: the study matches no one."""


NO_MATCH = NoMatch()


def source_key(raw: str, source_type: str) -> Any:
    """A recode key (JSON object keys are text) as a value of the source column's type."""
    text = raw.strip()
    if source_type == "integer":
        try:
            return int(text)
        except ValueError:
            raise MappingError("recode_invalid", f"Recode key {raw[:50]!r} is not an integer.") from None
    if source_type == "float":
        try:
            value = float(text)
        except ValueError:
            raise MappingError("recode_invalid", f"Recode key {raw[:50]!r} is not a number.") from None
        if not math.isfinite(value):
            raise MappingError("recode_invalid", f"Recode key {raw[:50]!r} is not a finite number.")
        return value
    if source_type == "boolean":
        if text.lower() not in {"true", "false"}:
            raise MappingError("recode_invalid", f"Recode key {raw[:50]!r} is not true or false.")
        return text.lower() == "true"
    return raw


def harmonized_value(variable: Variable, text: str) -> Any:
    """A recode target (text) in the variable's type."""
    if variable.type == "boolean":
        return text.strip().lower() == "true"
    return text


def _clean(number: float) -> float | int:
    """An inverse-transformed number, rid of binary noise (60.00000000000001 -> 60)."""
    rounded = float(f"{number:.12g}")
    return int(rounded) if rounded.is_integer() else rounded


def _check_value(variable: Variable, op: str, value: Any) -> None:
    where = {"variable": variable.name, "op": op}
    if op not in OPS:
        raise MappingError("invalid_operator", f"Unknown operator {str(op)[:30]!r}.", where)
    if op in RANGE_OPS and variable.type != "number":
        raise MappingError("invalid_operator", f"Operator {op!r} is defined for number variables only.", where)
    if op in NULL_OPS:
        if value is not None:
            raise MappingError("invalid_value", f"Operator {op!r} takes no value.", where)
        return
    if op == "between" or op in LIST_OPS:
        if not isinstance(value, list) or not value:
            raise MappingError("invalid_value", f"Operator {op!r} needs a non-empty list.", where)
        if op == "between" and len(value) != 2:
            raise MappingError("invalid_value", "'between' needs exactly [low, high].", where)
        items = value
    else:
        if isinstance(value, list):
            raise MappingError("invalid_value", f"Operator {op!r} takes a single value, not a list.", where)
        items = [value]
    for item in items:
        fits = {
            "number": isinstance(item, int | float) and not isinstance(item, bool) and math.isfinite(float(item)),
            "string": isinstance(item, str),
            "boolean": isinstance(item, bool),
        }[variable.type]
        if not fits:
            raise MappingError(
                "invalid_value", f"{variable.name!r} is a {variable.type} variable; {str(item)[:50]!r} is not.", where
            )
    if op == "between" and value[0] > value[1]:
        raise MappingError("invalid_value", "'between' needs low <= high.", where)


def filter_check(variable: Variable, op: str, value: Any) -> None:
    """Raise :class:`MappingError` unless ``op``/``value`` fit the variable (before any study is asked)."""
    _check_value(variable, op, value)


def _number_filter(source: Source, source_type: str, op: str, value: Any) -> dict[str, Any] | NoMatch:
    scale, offset = source.linear

    def back(x: float) -> float | int:
        value = (float(x) - offset) / scale
        if not math.isfinite(value):
            raise MappingError("invalid_value", f"{x!r} is out of range for study {source.study!r}.")
        return _clean(value)

    base = {"dataset": source.dataset, "column": source.column}
    integral = source_type == "integer"
    if op in NULL_OPS:
        return {**base, "op": op}
    if op == "between":
        low, high = sorted((back(value[0]), back(value[1])))
        return {**base, "op": "between", "value": [low, high]}
    if op in FLIPPED:
        return {**base, "op": op if scale > 0 else FLIPPED[op], "value": back(value)}
    if op in {"eq", "ne"}:
        target = back(value)
        if integral and not float(target).is_integer():  # an integer column never holds it
            return NO_MATCH if op == "eq" else {**base, "op": "not_null"}
        return {**base, "op": op, "value": target}
    targets = [back(item) for item in value]
    if integral:
        targets = [t for t in targets if float(t).is_integer()]
    if op == "in":
        return {**base, "op": "in", "value": list(dict.fromkeys(targets))} if targets else NO_MATCH
    return {**base, "op": "not_in", "value": list(dict.fromkeys(targets))} if targets else {**base, "op": "not_null"}


def _category_filter(variable: Variable, source: Source, source_type: str, op: str, value: Any) -> Any:
    base = {"dataset": source.dataset, "column": source.column}
    if source.recode is None:  # identity: harmonized values are the source values
        return {**base, "op": op, **({} if op in NULL_OPS else {"value": value})}
    mapped = {source_key(key, source_type): harmonized_value(variable, text) for key, text in source.recode.items()}
    if op == "is_null":
        # values without a recode entry are missing too; the recode covers the source's values (checked on save)
        return {**base, "op": "is_null"}
    if op == "not_null":
        return {**base, "op": "in", "value": list(mapped)} if mapped else NO_MATCH
    wanted = set(value) if isinstance(value, list) else {value}
    inside = [key for key, target in mapped.items() if target in wanted]
    if op in {"eq", "in"}:
        return {**base, "op": "in", "value": inside} if inside else NO_MATCH
    outside = [key for key, target in mapped.items() if target not in wanted]  # ne / not_in: a value, not this one
    return {**base, "op": "in", "value": outside} if outside else NO_MATCH


def source_filter(
    variable: Variable, source: Source, source_type: str, op: str, value: Any
) -> dict[str, Any] | NoMatch:
    """The study-level filter (a QuerySpec filter) equivalent to ``variable op value`` for this source."""
    _check_value(variable, op, value)
    if variable.type == "number":
        return _number_filter(source, source_type, op, value)
    return _category_filter(variable, source, source_type, op, value)


def definition_problems(variable: Variable, columns: Mapping[str, Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    """What is wrong with ``variable`` given its sources' column profiles (``"study/dataset/column"`` -> profile
    with ``type``, ``distinct`` and ``top_values``; None = the source does not exist). Empty = valid."""
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, source in enumerate(variable.sources):
        where = {"source": index, "study": source.study, "dataset": source.dataset, "column": source.column}

        def problem(code: str, message: str, where: dict[str, Any] = where) -> None:
            problems.append({"code": code, "message": message, **where})

        if source.study in seen:
            problem("duplicate_source", f"Study {source.study!r} has more than one source.")
            continue
        seen.add(source.study)
        profile = columns.get(f"{source.study}/{source.dataset}/{source.column}")
        if profile is None:
            problem("unknown_source", f"{source.study}/{source.dataset}/{source.column} does not exist.")
            continue
        kind = str(profile.get("type"))
        problems.extend({**p, **where} for p in _source_problems(variable, source, kind, profile))
    return problems


def _source_problems(variable: Variable, source: Source, kind: str, profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    linear = source.scale is not None or source.offset is not None
    if variable.type == "number":
        if kind not in NUMERIC_SOURCES:
            return [_p("type_mismatch", f"A number variable needs an integer or float column; this one is {kind}.")]
        if source.recode is not None:
            return [_p("recode_not_allowed", "Number variables take a scale and offset, not a recode map.")]
        if source.scale is not None and (not math.isfinite(source.scale) or source.scale == 0):
            return [_p("invalid_scale", "scale must be a finite number other than 0.")]
        if source.offset is not None and not math.isfinite(source.offset):
            return [_p("invalid_offset", "offset must be a finite number.")]
        return []
    if linear:
        return [_p("transform_not_allowed", f"A {variable.type} variable takes a recode map, not scale/offset.")]
    if kind not in {"string", "integer", "boolean"}:
        return [_p("type_mismatch", f"A {variable.type} variable cannot come from a {kind} column.")]
    if source.recode is None:
        if variable.type == "string" and kind == "string":
            return []
        if variable.type == "boolean" and kind == "boolean":
            return []
        return [_p("recode_required", f"A {kind} column needs a recode map to become a {variable.type} variable.")]
    if variable.type == "boolean":
        bad = [text for text in source.recode.values() if str(text).strip().lower() not in {"true", "false"}]
        if bad:
            return [_p("recode_invalid", f"A boolean variable's recode values are true or false, not {bad[0]!r}.")]
    try:
        keys = {source_key(key, kind) for key in source.recode}
    except MappingError as exc:
        return [_p(exc.code, exc.message)]
    known = profile_values(profile)
    if known is None:
        return [_p("recode_unverifiable", _unverifiable_message(profile))]
    uncovered = sorted((value for value in known if value not in keys), key=str)
    if uncovered:
        listed = ", ".join(repr(value) for value in uncovered[:10])
        return [_p("recode_incomplete", f"The recode map does not cover the source values {listed}.", uncovered)]
    return []


def _unverifiable_message(profile: Mapping[str, Any]) -> str:
    if profile.get("values_protected") or profile.get("distinct") is None:
        return (
            "The column's values are not all listed at your access level (or it has too many distinct values), so "
            "the recode map cannot be checked against them."
        )
    return (
        f"The column has {profile.get('distinct')} distinct values, more than its profile lists, so the recode map "
        "cannot be checked against them."
    )


def _p(code: str, message: str, values: Sequence[Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "message": message}
    if values is not None:
        out["uncovered"] = [str(value) for value in values[:50]]
    return out


def profile_values(profile: Mapping[str, Any]) -> set[Any] | None:
    """Every distinct non-missing value of a column, when its profile knows them all (None otherwise: also when the
    profile does not say how many there are, as a protected profile of an untabulated or hidden column)."""
    if profile.get("distinct") is None:
        return None
    distinct = int(profile.get("distinct") or 0)
    if distinct == 0:
        return set()
    tops = profile.get("top_values")
    if isinstance(tops, list) and len(tops) >= distinct:
        return {item.get("value") for item in tops if isinstance(item, Mapping)}
    if profile.get("type") == "integer":
        low, high = profile.get("min"), profile.get("max")
        if isinstance(low, int) and isinstance(high, int) and high - low + 1 == distinct:
            return set(range(low, high + 1))
    return None
