"""CSV dialect: reading the header record ourselves, and turning DuckDB parse errors into ingest errors.

The header is read in Python (RFC 4180: ``"`` quotes, ``""`` escapes, CRLF/LF/CR line ends, a UTF-8 BOM dropped)
so that column names are exactly what the file says: DuckDB's own header handling would rename duplicates and
blanks, which we want to reject instead. The data rows are then parsed by DuckDB with the same dialect, the columns
given explicitly and ``strict_mode`` on, so ragged rows and unclosed quotes are errors, not guesses.

Row numbers in messages count the header as row 1, like a spreadsheet (a cell spanning several lines counts once).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NoReturn

from datasets.ingest.errors import (
    EMPTY_COLUMN_NAME,
    HEADER_TOO_LONG,
    INVALID_CSV,
    LINE_TOO_LONG,
    RAGGED_ROWS,
    TOO_MANY_COLUMNS,
    UNCLOSED_QUOTE,
    UNSUPPORTED_ENCODING,
    IngestError,
)

_READ_STEP = 64 * 1024
_QUOTE = '"'


class _Incomplete(Exception):
    """The buffer ends inside the first record."""


class _TooMany(Exception):
    """The first record has more fields than allowed (count so far in args[0])."""


def read_header(path: Path, *, delimiter: str = ",", max_header_bytes: int, max_columns: int) -> list[str]:
    """Column names of the first record of the UTF-8 file ``path``, exactly as written (BOM removed)."""
    data = b""
    with path.open("rb") as fh:
        while True:
            want = min(max(_READ_STEP, len(data) * 2), max_header_bytes + 4)
            more = fh.read(max(want - len(data), 1))
            data += more
            at_eof = not more or len(data) < want
            text = data.decode("utf-8", errors="strict" if at_eof else "ignore")
            try:
                fields = _first_record(text.removeprefix("\ufeff"), delimiter, at_eof, max_columns)
            except _Incomplete:
                if len(data) > max_header_bytes:
                    _raise_header_too_long(text, delimiter, max_header_bytes, max_columns)
                continue
            except _TooMany as exc:
                _raise_too_many(exc.args[0], max_columns, exact=False)
            return _finish_header(fields, max_columns)


def header_from_text(
    text: str, *, delimiter: str = ",", at_eof: bool, max_header_bytes: int, max_columns: int
) -> list[str]:
    """Like :func:`read_header` for text already in memory (``at_eof``: the text is the whole file)."""
    try:
        fields = _first_record(text.removeprefix("\ufeff"), delimiter, at_eof, max_columns)
    except _Incomplete:
        _raise_header_too_long(text, delimiter, max_header_bytes, max_columns)
    except _TooMany as exc:
        _raise_too_many(exc.args[0], max_columns, exact=False)
    return _finish_header(fields, max_columns)


def _raise_too_many(count: int, max_columns: int, *, exact: bool) -> NoReturn:
    if exact:
        message = f"The file has {count:,} columns; at most {max_columns:,} are allowed."
        details: dict[str, object] = {"columns": count, "max_columns": max_columns}
    else:
        message = f"The file has more than {max_columns:,} columns; at most {max_columns:,} are allowed."
        details = {"columns_at_least": count, "max_columns": max_columns}
    raise IngestError(TOO_MANY_COLUMNS, message + " Split it into files that share the id column.", details)


def _finish_header(fields: list[str], max_columns: int) -> list[str]:
    if len(fields) > max_columns:
        _raise_too_many(len(fields), max_columns, exact=True)
    if len(fields) == 1 and not fields[0].strip():
        raise IngestError(
            EMPTY_COLUMN_NAME,
            "The first line of the file is empty; it must hold the column names.",
            {"positions": [1]},
        )
    return fields


def _raise_header_too_long(text: str, delimiter: str, max_header_bytes: int, max_columns: int) -> NoReturn:
    seen = text.count(delimiter) + 1
    if seen > max_columns:
        _raise_too_many(seen, max_columns, exact=False)
    raise IngestError(
        HEADER_TOO_LONG,
        f"The first line (the column names) is longer than {max_header_bytes / 1_000_000:,.1f} MB. "
        "Check that this is a CSV file with one line of column names.",
        {"max_header_bytes": max_header_bytes},
    )


def _next_line_end(text: str, pos: int) -> int:
    ends = [i for i in (text.find("\n", pos), text.find("\r", pos)) if i >= 0]
    return min(ends) if ends else len(text)


def _first_record(text: str, delimiter: str, at_eof: bool, max_fields: int) -> list[str]:
    """Parse the first CSV record of ``text``; raise _Incomplete when more text is needed.

    Linear in the length of the record; stops early (_TooMany) after ``max_fields`` fields.
    """
    fields: list[str] = []
    pos = 0
    n = len(text)
    line_end = _next_line_end(text, 0)
    while True:
        if len(fields) > max_fields:
            raise _TooMany(len(fields))
        if pos < n and text[pos] == _QUOTE:
            parts: list[str] = []
            start = pos + 1
            while True:
                end = text.find(_QUOTE, start)
                if end < 0:
                    if at_eof:
                        raise IngestError(
                            UNCLOSED_QUOTE,
                            f"The column names (row 1) contain a quote that is never closed, in column "
                            f"{len(fields) + 1}. A name that starts with a double quote must end with one.",
                            {"row": 1, "column_position": len(fields) + 1},
                        )
                    raise _Incomplete
                parts.append(text[start:end])
                if end + 1 < n and text[end + 1] == _QUOTE:
                    parts.append(_QUOTE)
                    start = end + 2
                    continue
                if end + 1 >= n and not at_eof:
                    raise _Incomplete
                pos = end + 1
                break
            fields.append("".join(parts))
            if pos > line_end:
                line_end = _next_line_end(text, pos)
            if pos < n and text[pos] not in (delimiter, "\n", "\r"):
                raise IngestError(
                    INVALID_CSV,
                    f"The column names (row 1) have text after a closing quote in column {len(fields)}. "
                    'Quotes inside a quoted name must be doubled ("").',
                    {"row": 1, "column_position": len(fields)},
                )
        else:
            end = text.find(delimiter, pos, line_end)
            if end < 0:
                end = line_end
            if end == n and not at_eof:
                raise _Incomplete
            fields.append(text[pos:end])
            pos = end
        if pos >= n:
            return fields
        if text[pos] == delimiter:
            pos += 1
            continue
        if text[pos] == "\r" and pos + 1 >= n and not at_eof:
            raise _Incomplete
        return fields


_LINE = re.compile(r"CSV Error on Line: (\d+)")
_COLUMNS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_ORIGINAL = re.compile(
    r"Original Line: (.*?)\n(?:Expected Number|Value with|Maximum line size|Invalid unicode|\n)", re.S
)


def _excerpt(message: str) -> str | None:
    match = _ORIGINAL.search(message)
    if not match:
        return None
    text = match.group(1)
    return text if len(text) <= 120 else text[:117] + "..."


_SEPARATOR_WORDS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe (|)"}


def parse_error(exc: Exception, *, max_line_bytes: int, delimiter: str | None = ",") -> IngestError:
    """Map a DuckDB CSV error to an :class:`IngestError`; never echoes the DuckDB text (it contains paths).

    ``delimiter`` (the separator the file was read with) is named in the hints of ragged rows.
    """
    message = str(exc)
    line_match = _LINE.search(message)
    row = int(line_match.group(1)) if line_match else None
    at = f"Row {row:,}" if row is not None else "A row"
    details: dict[str, object] = {"row": row}
    excerpt = _excerpt(message)
    if excerpt is not None:
        details["excerpt"] = excerpt
    columns = _COLUMNS.search(message)
    if columns:
        expected, found = int(columns.group(1)), int(columns.group(2))
        details.update(expected_columns=expected, found_columns=found)
        word = _SEPARATOR_WORDS.get(delimiter or ",", repr(delimiter))
        hint = (
            f"Values that contain a {word} must be in double quotes."
            if found > expected
            else f"Every row needs one value per column (an empty value is fine, but its {word} must be there)."
        )
        if delimiter != ",":
            details["delimiter"] = delimiter
        return IngestError(
            RAGGED_ROWS, f"{at} has {found:,} values but the header has {expected:,} columns. {hint}", details
        )
    if "unterminated quote" in message:
        return IngestError(
            UNCLOSED_QUOTE,
            f"{at} has a quoted value that is not closed properly: a value that starts with a double quote must "
            'end with one, and a quote inside it must be doubled ("").',
            details,
        )
    if "Maximum line size" in message:
        details["max_line_bytes"] = max_line_bytes
        return IngestError(
            LINE_TOO_LONG,
            f"{at} is longer than the limit of {max_line_bytes / 1_000_000:,.1f} MB for one row. "
            "Check for a quote that is never closed.",
            details,
        )
    if "Invalid unicode" in message:
        return IngestError(
            UNSUPPORTED_ENCODING,
            f"{at} contains text that is not valid UTF-8. Save the file as UTF-8 or declare its encoding.",
            details,
        )
    where = f" near row {row:,}" if row is not None else ""
    return IngestError(INVALID_CSV, f"The file could not be read as CSV{where}.", details)
