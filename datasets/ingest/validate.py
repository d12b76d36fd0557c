"""Structural checks on the header and key checks on the data.

Header rules: every column needs a name (not blank); names must be unique ignoring ASCII upper/lower case (DuckDB
resolves identifiers case-insensitively, so ``Age`` and ``age`` could not both be queried); the configured id and
session columns must exist (exact spelling; near misses are pointed out). Names are otherwise accepted as they are:
SQL words (``dropout_flag``, ``reunion``, ``selected``), parentheses (``executive_function(z)``), quotes, spaces
and non-ASCII letters are all fine because every identifier is quoted.

Key rules (checked on the Parquet file: the empty, duplicate and composite counts come from one columnar scan,
further queries run only to describe what was found): ids must not be empty (NULL or only spaces); in longitudinal
files neither may sessions; the key (id, or id + session) must be unique unless duplicates are allowed; ids missing
from the demographics table are counted as a warning; BDT's derived composite id column, when present, is compared
with ``<id>_<session>`` on every row (a warning when it differs).
"""

# ruff: noqa: S608 - SQL text here only interpolates quote_ident() identifiers and module constants; values are parameters.

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from datasets.ingest.duck import DuckSession
from datasets.ingest.errors import (
    COMPOSITE_ID_MISMATCH,
    COMPOSITE_ID_RECOGNISED,
    DUPLICATE_COLUMNS,
    DUPLICATE_KEYS,
    DUPLICATE_KEYS_ALLOWED,
    EMPTY_COLUMN_NAME,
    EMPTY_IDS,
    EMPTY_SESSIONS,
    INVALID_OPTIONS,
    MISSING_ID_COLUMN,
    MISSING_KEY_COLUMN,
    MISSING_SESSION_COLUMN,
    UNKNOWN_IDS,
    UNKNOWN_TEXT_COLUMNS,
    IngestError,
    IngestWarning,
    clipped,
    number_list,
    plural,
    quote_list,
    quoted,
)
from datasets.ingest.options import IngestOptions
from datasets.ingest.sql import quote_ident

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
EXAMPLES = 5


def _clipped(values: list[str]) -> list[str]:
    """Input values for a message's details, each cut like a quoted value (:func:`clipped`)."""
    return [clipped(value) for value in values]


def fold(name: str) -> str:
    """How DuckDB compares identifiers: ASCII letters case-insensitively."""
    return name.translate(_ASCII_LOWER)


def check_header(header: list[str], options: IngestOptions) -> list[IngestWarning]:
    """Raise for unusable headers; return warnings (unknown text columns)."""
    blank = [i + 1 for i, name in enumerate(header) if not name.strip()]
    if blank:
        which = f"Column {blank[0]} has" if len(blank) == 1 else f"Columns {number_list(blank)} have"
        trailing = " If the first row ends with a comma, remove it." if blank[-1] == len(header) else ""
        raise IngestError(
            EMPTY_COLUMN_NAME,
            f"{which} no name. Every column needs a name in the first row.{trailing}",
            {"positions": blank},
        )
    groups: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(header):
        groups[fold(name)].append(i)
    duplicates = [positions for positions in groups.values() if len(positions) > 1]
    if duplicates:
        parts = []
        details = []
        for positions in duplicates[:EXAMPLES]:
            names = list(dict.fromkeys(header[i] for i in positions))
            cols = number_list([p + 1 for p in positions])
            if len(names) == 1:
                parts.append(f"{quoted(names[0])} (columns {cols})")
            else:
                parts.append(f"{quote_list(names)} (columns {cols}, differing only in upper/lower case)")
            details.append({"names": _clipped(names), "positions": [p + 1 for p in positions]})
        more = f" and {len(duplicates) - EXAMPLES} more" if len(duplicates) > EXAMPLES else ""
        raise IngestError(
            DUPLICATE_COLUMNS,
            "Column names must be unique, but these appear more than once: " + "; ".join(parts) + more + ".",
            {"duplicates": details, "count": len(duplicates)},
        )
    require_column(header, options.id_column, MISSING_ID_COLUMN, "id")
    require_column(header, options.session_column, MISSING_SESSION_COLUMN, "session")
    for role, name in options.required_columns:
        require_column(header, name, MISSING_KEY_COLUMN, role)
    present = set(header)
    unknown = [name for name in options.text_columns if name not in present]
    if unknown:
        return [
            IngestWarning(
                UNKNOWN_TEXT_COLUMNS,
                f"These columns were to be kept as text but are not in the file: {quote_list(unknown)}.",
                {"columns": _clipped(unknown)},
            )
        ]
    return []


def require_column(header: list[str], name: str | None, code: str, role: str) -> None:
    """Raise ``IngestError(code)`` naming the ``role`` column when ``name`` is not in ``header`` (with hints)."""
    if name is None or name in header:
        return
    hints = []
    near = [h for h in header if fold(h.strip()) == fold(name.strip())]
    if near:
        hints.append(f"The file has {quote_list(near)}, which differs only in spaces or upper/lower case.")
    if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
        sep = next(s for s in (";", "\t", "|") if s in header[0])
        shown = "a tab" if sep == "\t" else f"'{sep}'"
        hints.append(f"The file seems to use {shown} between values; choose that delimiter when uploading.")
    found = quote_list(header, limit=10)
    message = f"The {role} column {quoted(name)} is not in the file (its columns are {found})."
    details = {"column": clipped(name), "header": _clipped(header[:50]), "near_matches": _clipped(near)}
    raise IngestError(code, " ".join([message, *hints]), details)


ROW_NUMBER = "file_row_number"


def _numbered_source(header: list[str]) -> tuple[str, str | None]:
    """FROM clause over the Parquet file (``$p``) and its 0-based row number column, if DuckDB can add one.

    DuckDB cannot add ``file_row_number`` when the file has a column of that name; rows are then not cited.
    """
    if any(fold(name) == ROW_NUMBER for name in header):
        return "read_parquet($p)", None
    return "read_parquet($p, file_row_number = true)", ROW_NUMBER


def _rows(session: DuckSession, parquet: Path, header: list[str], where: str, params: dict[str, object]) -> list[int]:
    """Spreadsheet row numbers (header = row 1) of the first rows matching ``where``."""
    source, row_number = _numbered_source(header)
    if row_number is None:
        return []
    sql = f"SELECT {row_number} + 2 FROM {source} WHERE {where} ORDER BY {row_number} LIMIT {EXAMPLES}"
    return [int(r[0]) for r in session.fetchall(sql, {"p": str(parquet), **params})]


def _blank(column: str) -> str:
    """SQL condition: the value of ``column`` is missing or only spaces (an empty id or session)."""
    col = quote_ident(column)
    return f"{col} IS NULL OR trim({col}) = ''"


def _composite_condition(header: list[str], options: IngestOptions) -> str | None:
    """SQL condition "BDT's composite id differs from ``<id>_<session>``", or None when it is not checked."""
    composite, id_column, session_column = options.composite_column, options.id_column, options.session_column
    if not (composite and id_column and session_column and {composite, id_column, session_column} <= set(header)):
        return None
    expected = f"({quote_ident(id_column)} || '_' || {quote_ident(session_column)})"
    return f"{quote_ident(composite)} IS DISTINCT FROM {expected}"


def _may_be_blank(missing: int, lowest: str | None, highest: str | None) -> bool:
    """Whether a column with ``missing`` NULLs and values in [lowest, highest] can hold an empty key.

    A value ``trim()`` empties is ``''`` or starts with a character ``trim()`` removes: in ASCII only the space
    (every ASCII character below ``!`` is treated alike here), otherwise non-ASCII spaces. So values that all
    start with a printable ASCII character (the range is ``['!', '\\x80')``, compared by code point like DuckDB
    compares UTF-8 bytes) cannot be blank, and the exact count is not needed.
    """
    if missing:
        return True
    return lowest is not None and highest is not None and (lowest < "!" or highest >= "\x80")


def _key_counts(
    session: DuckSession, parquet: Path, header: list[str], key: list[str], options: IngestOptions
) -> tuple[int, int, bool, int | None]:
    """(rows with an empty id, rows with an empty session, "some key may repeat", composite mismatches).

    One scan gives, per key column, NULLs, min and max (usually from the Parquet metadata, see
    :func:`_may_be_blank`; the empty rows are counted exactly only when these allow any), the number of distinct
    key hashes and the composite mismatches. Keys may repeat when there are fewer distinct key hashes than rows.
    Distinct hashes imply distinct keys, so equal counts prove there are no duplicates; otherwise the exact check
    decides (a hash collision then finds none). The composite count is None when that column is not checked.
    """
    items = [f"count(*) - count({quote_ident(c)}), min({quote_ident(c)}), max({quote_ident(c)})" for c in key]
    items.append(f"count(*) - count(DISTINCT hash({', '.join(quote_ident(k) for k in key)}))")
    composite = _composite_condition(header, options)
    items.append(f"count(*) FILTER (WHERE {composite})" if composite else "NULL")
    p = {"p": str(parquet)}
    row = session.fetchone(f"SELECT {', '.join(items)} FROM read_parquet($p)", p)
    empty = [0, 0]
    for i, column in enumerate(key):  # the id, then the session column if there is one
        missing, lowest, highest = row[3 * i : 3 * i + 3]
        if _may_be_blank(int(missing), lowest, highest):
            (count,) = session.fetchone(f"SELECT count(*) FROM read_parquet($p) WHERE {_blank(column)}", p)
            empty[i] = int(count)
    repeats, mismatches = row[-2:]
    return empty[0], empty[1], bool(repeats), None if mismatches is None else int(mismatches)


def check_keys(session: DuckSession, parquet: Path, header: list[str], options: IngestOptions) -> list[IngestWarning]:
    """Empty ids/sessions and duplicate keys (raise), unknown ids (warning), the composite id (warning).

    The counts come from one scan (:func:`_key_counts`); rows are cited and duplicates described by further
    queries only when something was found.
    """
    if options.id_column is None:
        return []
    warnings: list[IngestWarning] = []
    key = [options.id_column] + ([options.session_column] if options.session_column else [])
    empty_ids, empty_sessions, repeats, mismatches = _key_counts(session, parquet, header, key, options)
    for name, count, code, what in (
        (options.id_column, empty_ids, EMPTY_IDS, "id"),
        (options.session_column, empty_sessions, EMPTY_SESSIONS, "session"),
    ):
        if name is None or not count:
            continue
        rows = _rows(session, parquet, header, _blank(name), {})
        where_text = f" (row {number_list(rows)}{', ...' if count > len(rows) else ''}; the header is row 1)"
        raise IngestError(
            code,
            f"{plural(count, 'row')} {'has' if count == 1 else 'have'} no {what} in column {quoted(name)}"
            f"{where_text if rows else ''}. Every row needs a{'n' if what == 'id' else ''} {what}.",
            {"column": name, "count": count, "rows": rows},
        )
    if repeats:
        warnings.extend(_duplicates(session, parquet, header, key, options))
    if options.known_ids_parquet is not None:
        warnings.extend(_unknown_ids(session, parquet, options))
    if mismatches is not None:
        warnings.extend(_composite(session, parquet, header, options, mismatches))
    return warnings


def _composite(
    session: DuckSession, parquet: Path, header: list[str], options: IngestOptions, count: int
) -> list[IngestWarning]:
    """BDT's derived ``<id>_<session>`` column: ``count`` rows differ from the id and session as uploaded."""
    where = _composite_condition(header, options)
    composite, id_column, session_column = options.composite_column, options.id_column, options.session_column
    assert where is not None and composite and id_column and session_column
    expected = f"({quote_ident(id_column)} || '_' || {quote_ident(session_column)})"
    p = {"p": str(parquet)}
    derived = f"{id_column}_{session_column}"
    if not count:
        return [
            IngestWarning(
                COMPOSITE_ID_RECOGNISED,
                f"{quoted(composite)} is BDT's composite id ({clipped(derived)}) and matches every row. It is kept "
                f"in the file but is not a data column: rows merge on {quoted(id_column)} + {quoted(session_column)}.",
                {"column": composite},
            )
        ]
    rows = _rows(session, parquet, header, where, {})
    examples = session.fetchall(
        f"SELECT {quote_ident(composite)}, {expected} FROM read_parquet($p) WHERE {where} LIMIT {EXAMPLES}", p
    )
    shown = "; ".join(
        f"{'an empty cell' if found is None else quoted(str(found))} where {quoted(str(wanted))} was expected"
        for found, wanted in examples
    )
    which = "row" if len(rows) == 1 else "rows"
    cited = f" ({which} {number_list(rows)}{', ...' if count > len(rows) else ''}; the header is row 1)" if rows else ""
    return [
        IngestWarning(
            COMPOSITE_ID_MISMATCH,
            f"{quoted(composite)} should be {clipped(derived)}, but {plural(int(count), 'row')} "
            f"{'differs' if count == 1 else 'differ'}{cited}: {shown}. The values are kept as uploaded; the "
            f"column is not a data column and rows merge on {quoted(id_column)} + {quoted(session_column)}, so this "
            "does not change any result.",
            {"column": composite, "count": int(count), "rows": rows},
        )
    ]


def _duplicates(
    session: DuckSession, parquet: Path, header: list[str], key: list[str], options: IngestOptions
) -> list[IngestWarning]:
    source, row_number = _numbered_source(header)
    idents = [quote_ident(k) for k in key]
    keys = ", ".join(f"{ident} AS key{i}" for i, ident in enumerate(idents))
    first = f"min({row_number})" if row_number else "0"
    groups = (
        f"SELECT {keys}, count(*) AS dup_count, {first} AS first_row FROM {source} "
        f"GROUP BY {', '.join(idents)} HAVING count(*) > 1"
    )
    p = {"p": str(parquet)}
    (dup_keys, dup_rows) = session.fetchone(f"SELECT count(*), coalesce(sum(dup_count), 0) FROM ({groups})", p)
    if not dup_keys:
        return []
    order = ", ".join(f"key{i}" for i in range(len(key)))
    examples = session.fetchall(f"SELECT * FROM ({groups}) ORDER BY first_row, {order} LIMIT {EXAMPLES}", p)
    described = []
    details = []
    for example in examples:
        values = [str(v) for v in example[: len(key)]]
        count = int(example[len(key)])
        where = " AND ".join(f"{ident} = $k{i}" for i, ident in enumerate(idents))
        rows = _rows(session, parquet, header, where, {f"k{i}": v for i, v in enumerate(values)})
        label = quoted(values[0]) + (f" session {quoted(values[1])}" if len(values) > 1 else "")
        cited = f" (rows {number_list(rows)}{', ...' if count > len(rows) else ''})" if rows else f" ({count} times)"
        described.append(label + cited)
        details.append({"key": _clipped(values), "count": count, "rows": rows})
    what = "participant" if len(key) == 1 else "participant and session"
    rule = "once" if len(key) == 1 else "once per session"
    message = (
        f"{plural(int(dup_keys), what + ' key', what + ' keys')} {'appears' if dup_keys == 1 else 'appear'} "
        f"more than once ({plural(int(dup_rows), 'row')} "
        f"in all): {'; '.join(described)}{'; ...' if dup_keys > len(examples) else ''}. "
        f"Each participant may appear only {rule} in this file."
    )
    info = {"columns": key, "duplicate_keys": int(dup_keys), "rows_involved": int(dup_rows), "examples": details}
    if not options.allow_duplicate_keys:
        raise IngestError(DUPLICATE_KEYS, message, info)
    return [IngestWarning(DUPLICATE_KEYS_ALLOWED, message.replace(" may appear", " would normally appear"), info)]


def _unknown_ids(session: DuckSession, parquet: Path, options: IngestOptions) -> list[IngestWarning]:
    assert options.id_column is not None and options.known_ids_parquet is not None
    known_col = options.known_ids_column or options.id_column
    known = str(options.known_ids_parquet)
    names = [r[0] for r in session.fetchall("SELECT name FROM parquet_schema($k)", {"k": known})]
    if known_col not in names:
        raise IngestError(
            INVALID_OPTIONS,
            f"The demographics table has no id column {quoted(known_col)} to check the ids against.",
            {"column": known_col},
        )
    ident = quote_ident(options.id_column)
    sql = (
        f"SELECT DISTINCT m.{ident} AS id FROM read_parquet($p) AS m "
        f"ANTI JOIN (SELECT CAST({quote_ident(known_col)} AS VARCHAR) AS id FROM read_parquet($k)) AS k "
        f"ON m.{ident} = k.id WHERE m.{ident} IS NOT NULL"
    )
    params = {"p": str(parquet), "k": known}
    (count,) = session.fetchone(f"SELECT count(*) FROM ({sql})", params)
    if not count:
        return []
    examples = [str(r[0]) for r in session.fetchall(f"SELECT id FROM ({sql}) ORDER BY id LIMIT {EXAMPLES}", params)]
    return [
        IngestWarning(
            UNKNOWN_IDS,
            f"{plural(int(count), 'participant')} in this file {'is' if count == 1 else 'are'} not in the "
            f"demographics table ({quote_list(examples)}{', ...' if count > len(examples) else ''}). Their rows "
            "are kept but will not appear in merged results until the demographics table lists them.",
            {"count": int(count), "examples": _clipped(examples)},
        )
    ]
