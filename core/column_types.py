"""The column-type vocabulary of the platform, Django-free, importable by every part (ingest, query core, engines,
pages, analysis, disclosure): the six types, which of them are numbers, their DuckDB types, natural sort order of
labels, and how a value from a form, a TOML file or JSON becomes a value of a type."""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from typing import Any, Literal, get_args

ColumnType = Literal["integer", "float", "string", "boolean", "date", "timestamp"]
COLUMN_TYPES: tuple[ColumnType, ...] = get_args(ColumnType)
NUMERIC_TYPES: frozenset[str] = frozenset({"integer", "float"})
#: Types with an order (``lt``/``between`` ... apply).
ORDERED_TYPES: frozenset[str] = frozenset({"integer", "float", "date", "timestamp"})

#: The DuckDB type that holds each column type (Parquet files are written with these).
DUCKDB_TYPES: dict[ColumnType, str] = {
    "integer": "BIGINT",
    "float": "DOUBLE",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}

INT64_BOUND = 2**63
_DIGITS = re.compile(r"(\d+)")


# --- natural order ---------------------------------------------------------------------------------------------


def natural_sort_key(value: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key that orders embedded numbers numerically: ``BAS1 < BAS2 < FU2 < FU12``, ``2 < 10``.

    Numbers sort before text at the same position, a label before its extensions (``FU1 < FU1a``); comparison is
    case-insensitive (``fu1 < FU2``) with the original text as the final tie-breaker, so the order is total.
    """
    parts: list[tuple[int, int, str]] = []
    for i, part in enumerate(_DIGITS.split(value)):
        if not part:
            continue
        if i % 2:
            parts.append((0, int(part), part))
        else:
            parts.append((1, 0, part.casefold()))
    parts.append((-1, 0, value))
    return tuple(parts)


def natural_sorted(values: list[str]) -> list[str]:
    """``values`` in natural order (:func:`natural_sort_key`)."""
    return sorted(values, key=natural_sort_key)


# --- values ----------------------------------------------------------------------------------------------------


class CoercionError(ValueError):
    """A value does not fit a column type; ``message`` is safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def shown(text: object, limit: int = 80) -> str:
    """Render user text safely inside an error message: truncated, control/format characters escaped."""
    s = str(text)
    out = "".join(
        ch if unicodedata.category(ch)[0] != "C" else ch.encode("unicode_escape").decode("ascii") for ch in s[:limit]
    )
    return out + ("…" if len(s) > limit else "")


def text_value(value: str, *, max_length: int) -> str:
    """A text value as stored: no NUL, at most ``max_length`` characters, valid Unicode."""
    if "\x00" in value:
        raise CoercionError("Text values cannot contain NUL characters.")
    if len(value) > max_length:
        raise CoercionError("Text value is too long.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise CoercionError("Text value is not valid Unicode.") from None
    return value


# How a yes/no value may be written in a filter: the spellings data files use, in any letter case.
BOOLEAN_SPELLINGS: dict[str, bool] = {
    "true": True,
    "yes": True,
    "y": True,
    "1": True,
    "false": False,
    "no": False,
    "n": False,
    "0": False,
}


def boolean_from_text(text: str) -> bool | None:
    """``text`` as a boolean when it is one of :data:`BOOLEAN_SPELLINGS` (any case, spaces ignored), else None."""
    return BOOLEAN_SPELLINGS.get(text.strip().lower())


def value_from_json(value: object, ctype: ColumnType, *, max_text_length: int) -> Any:
    """A JSON value as a value of ``ctype``, strictly (no string<->number guessing), or :class:`CoercionError`."""
    wrong = CoercionError(f"Value {shown(repr(value))} does not fit a column of type {ctype}.")
    if value is None:
        raise CoercionError("A value is required here (use is_null / not_null for missing).")
    if ctype in NUMERIC_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        if isinstance(value, float) and not math.isfinite(value):
            raise wrong
        if isinstance(value, int) and not -INT64_BOUND <= value < INT64_BOUND:
            raise CoercionError("Number out of range.")
        return value
    if ctype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        flag = boolean_from_text(value) if isinstance(value, str) and len(value) <= 8 else None
        if flag is None:
            raise CoercionError(
                f"Value {shown(repr(value))} does not fit a column of type boolean "
                "(use true/false, yes/no, y/n or 1/0, in any letter case)."
            )
        return flag
    if not isinstance(value, str):
        raise wrong
    text = text_value(value, max_length=max_text_length)
    if ctype == "string":
        return text
    try:
        if ctype == "date":
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                raise ValueError(text)
            return dt.date.fromisoformat(text)
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CoercionError(f"{shown(text)} is not an ISO-8601 {ctype}.") from None
    if stamp.tzinfo is not None:
        raise CoercionError("Timestamps are compared without a time zone; drop the offset.")
    return stamp


def key_value_from_json(value: str | int, ctype: ColumnType, *, max_text_length: int) -> Any:
    """A participant id / session value (given as text or integer) as a value of its key column's type."""
    if ctype == "string":
        return text_value(str(value), max_length=max_text_length)
    if ctype == "integer":
        if isinstance(value, str):
            if not re.fullmatch(r"[+-]?\d{1,19}", value.strip()):
                raise CoercionError(f"{shown(value)} is not an integer.")
            value = int(value.strip())
        return value_from_json(value, ctype, max_text_length=max_text_length)
    if ctype == "float" and isinstance(value, str):
        try:
            return value_from_json(float(value), ctype, max_text_length=max_text_length)
        except ValueError:
            raise CoercionError(f"{shown(value)} is not a number.") from None
    return value_from_json(value, ctype, max_text_length=max_text_length)


def value_from_form(raw: Any, column_type: str | None) -> Any:
    """A form field's text as the query spec wants it for ``column_type``; blank is None; unparseable text stays
    text (the spec reports it)."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if text == "":
        return None
    if column_type in NUMERIC_TYPES:
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return text
        return number if number == number and abs(number) != float("inf") else text
    if column_type == "boolean":
        flag = boolean_from_text(text)
        return text if flag is None else flag
    if column_type == "timestamp" and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", text):
        return f"{text}:00"
    return text


def value_from_toml(value: Any, ctype: str | None) -> Any:
    """A TOML value as the query spec wants it for the column type (BDT writes categorical values as text)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if ctype in NUMERIC_TYPES and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() and ctype == "integer" else number
    if ctype == "boolean" and isinstance(value, str | int) and not isinstance(value, bool):
        flag = boolean_from_text(str(value))
        if flag is not None:
            return flag
    if ctype == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value
