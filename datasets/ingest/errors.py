"""Error and warning types of the ingest core.

Every rejection is an :class:`IngestError` with a stable snake_case ``code`` (for the API and tests), a sentence a
researcher can act on (``message``: it names the row, column or setting involved and never contains a file path or an
internal exception text) and JSON-able ``details``. Warnings do not stop an ingest; they are returned in the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Byte-level problems (sniff).
EMPTY_FILE = "empty_file"
FILE_TOO_LARGE = "file_too_large"
BINARY_CONTENT = "binary_content"
ARCHIVE_CONTENT = "archive_content"
UNSUPPORTED_ENCODING = "unsupported_encoding"

# CSV structure.
HEADER_ONLY = "header_only"
HEADER_TOO_LONG = "header_too_long"
DUPLICATE_COLUMNS = "duplicate_columns"
EMPTY_COLUMN_NAME = "empty_column_name"
TOO_MANY_COLUMNS = "too_many_columns"
RAGGED_ROWS = "ragged_rows"
UNCLOSED_QUOTE = "unclosed_quote"
LINE_TOO_LONG = "line_too_long"
INVALID_CSV = "invalid_csv"

# Key columns.
MISSING_ID_COLUMN = "missing_id_column"
MISSING_SESSION_COLUMN = "missing_session_column"
MISSING_KEY_COLUMN = "missing_key_column"  # a configured age, sex or site column the file lacks
EMPTY_IDS = "empty_ids"
EMPTY_SESSIONS = "empty_sessions"
DUPLICATE_KEYS = "duplicate_keys"

# Options given by the caller that cannot work.
INVALID_OPTIONS = "invalid_options"

# BDT config.toml import.
INVALID_CONFIG = "invalid_config"

# Warning codes.
UNKNOWN_IDS = "unknown_ids"
DUPLICATE_KEYS_ALLOWED = "duplicate_keys_allowed"
UNKNOWN_TEXT_COLUMNS = "unknown_text_columns"
EMPTY_COLUMNS = "empty_columns"
MANY_SESSIONS = "many_sessions"
KEY_COLUMN_UNUSED = "key_column_unused"  # a key column of a BDT configuration that the demographics header lacks
COMPOSITE_ID_RECOGNISED = "composite_id_recognised"
COMPOSITE_ID_MISMATCH = "composite_id_mismatch"
COMPOSITE_ID_AS_DATA = "composite_id_as_data"

ERROR_CODES: frozenset[str] = frozenset(
    {
        EMPTY_FILE,
        FILE_TOO_LARGE,
        BINARY_CONTENT,
        ARCHIVE_CONTENT,
        UNSUPPORTED_ENCODING,
        HEADER_ONLY,
        HEADER_TOO_LONG,
        DUPLICATE_COLUMNS,
        EMPTY_COLUMN_NAME,
        TOO_MANY_COLUMNS,
        RAGGED_ROWS,
        UNCLOSED_QUOTE,
        LINE_TOO_LONG,
        INVALID_CSV,
        MISSING_ID_COLUMN,
        MISSING_SESSION_COLUMN,
        MISSING_KEY_COLUMN,
        EMPTY_IDS,
        EMPTY_SESSIONS,
        DUPLICATE_KEYS,
        INVALID_OPTIONS,
        INVALID_CONFIG,
    }
)

WARNING_CODES: frozenset[str] = frozenset(
    {
        UNKNOWN_IDS,
        DUPLICATE_KEYS_ALLOWED,
        UNKNOWN_TEXT_COLUMNS,
        EMPTY_COLUMNS,
        MANY_SESSIONS,
        KEY_COLUMN_UNUSED,
        COMPOSITE_ID_RECOGNISED,
        COMPOSITE_ID_MISMATCH,
        COMPOSITE_ID_AS_DATA,
    }
)


class IngestError(Exception):
    """A file (or option) the pipeline rejects. ``str(error)`` is the researcher-facing message."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def as_dict(self) -> dict[str, Any]:
        """The API error body: ``{"code", "message", "details"}``."""
        return {"code": self.code, "message": self.message, "details": self.details}

    def __repr__(self) -> str:
        return f"IngestError({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class IngestWarning:
    """Something the researcher should know about an accepted file."""

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": dict(self.details)}


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``plural(1, "row") == "1 row"``, ``plural(3, "row") == "3 rows"``."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


#: Messages quote a value of the input cut at this many characters (docs/contract.md).
QUOTE_MAX_CHARS = 200


def clipped(value: str, limit: int = QUOTE_MAX_CHARS) -> str:
    """``value`` cut to ``limit`` characters, the cut marked with an ellipsis (for messages and details)."""
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


def quoted(value: str, limit: int = QUOTE_MAX_CHARS) -> str:
    """``'value'`` for a message, cut to ``limit`` characters (a message never echoes a long input in full)."""
    return f"'{clipped(value, limit)}'"


def quote_list(values: list[str], limit: int = 5) -> str:
    """``'a', 'b' and 'c'`` (at most ``limit`` shown, then "and N more"; each cut like :func:`quoted`)."""
    shown = [quoted(v) for v in values[:limit]]
    rest = len(values) - len(shown)
    if rest > 0:
        return ", ".join(shown) + f" and {rest:,} more"
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def number_list(values: list[int], limit: int = 5) -> str:
    """``3, 7 and 9`` (at most ``limit`` shown, then "and N more")."""
    return quote_list([f"{v:,}" for v in values], limit).replace("'", "")
