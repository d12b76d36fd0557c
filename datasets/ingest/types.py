"""Column type inference over the whole file.

Every cell is read as text first. A column gets a non-string type only if **every** non-missing value in the whole
file (not a sample) is written in the canonical form of that type, so that typing never changes what a value says:

* **missing**: the empty cell (``,,`` or ``""``) and any ``options.missing_values`` token are NULL. Nothing else
  (``NA``, ``NaN``, ``.``, ``-999``) is missing unless declared.
* **boolean**: only ``true``/``false``/``yes``/``no`` in any letter case. ``0``/``1`` columns stay **integer**
  (they are usually codes or counts, and integer keeps the value), ``t``/``f``/``y``/``n`` stay string.
* **integer**: optional ``-`` then digits without leading zeros (``0``, ``7``, ``-12``; ``-0`` reads as 0), at most
  18 digits (always fits a 64-bit integer). ``001``, ``+5``, ``5 `` (spaces), ``1,000``, ``1_000``, ``0x10`` and
  integers with more than 18 digits (barcodes, long ids) make the column **string**, so they round-trip exactly.
* **float** (IEEE double, about 15 significant digits): an integer as above or a decimal number, optionally with a
  fraction (``1.5``, ``-0.25``, ``.5``, ``1.50`` - trailing zeros are fine, the value is numeric) and optionally a
  1-2 digit exponent (``1e5``, ``2.5E-03``, as written by R and Python). Leading zeros (``007.5``), a leading
  ``+``, a trailing ``.`` (``5.``), surrounding whitespace, thousands separators, decimal commas (``1,5``),
  ``NaN``/``inf``/``Infinity`` and 3-digit exponents make the column **string**. A column of integers with at least
  one decimal/exponent value is float (``1`` and ``1.0`` together -> float).
* **date**: ``YYYY-MM-DD`` that is a real calendar date. Other date spellings (``03/04/2020``) are ambiguous
  between countries and stay **string**.
* **timestamp**: ``YYYY-MM-DD`` followed by ``T`` or a space and ``HH:MM``, ``HH:MM:SS`` or ``HH:MM:SS.ffffff``;
  no time zone suffix (``Z``/``+02:00`` stay string, nothing is silently converted). A column mixing dates and
  timestamps is timestamp (dates read as midnight).
* **string**: everything else, a column with no values at all, and always the id column, the session column and
  ``options.text_columns`` (identifiers such as ``001`` or session labels ``1``/``1.0``/``BAS1`` keep their text).

Implementation: a per-value type mask (:func:`value_mask_sql`; cheap comparisons route each value to at most one
or two regular expressions) AND-ed per column over the rows profiled - written per column up to
:data:`WIDE_COLUMNS` columns, ``UNPIVOT``-ed beyond so the SQL size does not grow with the width. The pipeline
profiles the first rows, then verifies the guessed type of every value while writing the Parquet file
(:func:`verified_expression`, using :func:`type_predicate_sql`, which is equivalent to the mask bit); a misfit
makes it profile every row instead. Either way the result is the whole-file type.
"""

# ruff: noqa: S608 - SQL text here only interpolates quote_ident() identifiers and module constants; values are parameters.

from __future__ import annotations

from dataclasses import dataclass

from core.column_types import DUCKDB_TYPES, ColumnType
from datasets.ingest.sql import quote_ident

BOOL_BIT = 1
INT_BIT = 2
FLOAT_BIT = 4
DATE_BIT = 8
TIMESTAMP_BIT = 16

INTEGER_RE = r"^-?(?:0|[1-9][0-9]{0,17})$"
PLAIN_NUMBER_RE = r"^-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]+)?|\.[0-9]+)$"
EXPONENT_NUMBER_RE = r"^-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]+)?|\.[0-9]+)[eE][-+]?[0-9]{1,2}$"
DATETIME_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)?$"
BOOLEAN_TOKENS = ("true", "false", "yes", "no")
TRUE_TOKENS = ("true", "yes")


def _sql_string(text: str) -> str:
    # Only used for the module's own constant patterns/tokens above, never for user text.
    return "'" + text.replace("'", "''") + "'"


def value_mask_sql(v: str) -> str:
    """SQL giving the type bits one non-NULL text value ``v`` (an expression) is compatible with.

    Ordered by cost: a comparison sends values that cannot be numbers or dates (first character not ``-``, ``.``
    or a digit) to the boolean test; then the plain-number pattern (the common case, one regular expression and
    one ``contains``), the exponent pattern only for values containing ``e``/``E``, and the date pattern last.
    """
    tokens = ", ".join(_sql_string(t) for t in BOOLEAN_TOKENS)
    int_or_float = INT_BIT | FLOAT_BIT
    date_or_ts = DATE_BIT | TIMESTAMP_BIT
    return f"""CASE
  WHEN {v} < '-' OR {v} >= ':' THEN
    CASE WHEN strlen({v}) BETWEEN 2 AND 5 AND lower({v}) IN ({tokens}) THEN {BOOL_BIT} ELSE 0 END
  WHEN regexp_matches({v}, {_sql_string(PLAIN_NUMBER_RE)}) THEN
    CASE WHEN contains({v}, '.') THEN {FLOAT_BIT}
         WHEN strlen({v}) <= 18 OR (strlen({v}) = 19 AND {v} < '0') THEN {int_or_float}
         ELSE 0 END
  WHEN (contains({v}, 'e') OR contains({v}, 'E')) AND regexp_matches({v}, {_sql_string(EXPONENT_NUMBER_RE)})
    THEN {FLOAT_BIT}
  WHEN strlen({v}) BETWEEN 10 AND 26 AND regexp_matches({v}, {_sql_string(DATETIME_RE)}) THEN
    CASE WHEN strlen({v}) = 10 THEN CASE WHEN TRY_CAST({v} AS DATE) IS NULL THEN 0 ELSE {date_or_ts} END
         WHEN TRY_CAST({v} AS TIMESTAMP) IS NULL THEN 0
         ELSE {TIMESTAMP_BIT} END
  ELSE 0 END"""


def type_predicate_sql(v: str, column_type: ColumnType) -> str:
    """SQL that is true exactly when ``(value_mask_sql(v) & TYPE_BITS[column_type]) != 0`` for non-NULL ``v``.

    Cheaper than the full mask because it only tests one type (one regular expression for numbers); used to verify
    a guessed type on every value while writing. Equivalence is tested in tests/datasets_core/test_types.py.
    """
    if column_type == "boolean":
        return f"(strlen({v}) BETWEEN 2 AND 5 AND lower({v}) IN ({', '.join(_sql_string(t) for t in BOOLEAN_TOKENS)}))"
    if column_type == "integer":
        return f"regexp_matches({v}, {_sql_string(INTEGER_RE)})"
    if column_type == "float":
        return (
            f"((regexp_matches({v}, {_sql_string(PLAIN_NUMBER_RE)}) AND (strlen({v}) <= 18 OR contains({v}, '.') "
            f"OR (strlen({v}) = 19 AND {v} < '0'))) OR ((contains({v}, 'e') OR contains({v}, 'E')) "
            f"AND regexp_matches({v}, {_sql_string(EXPONENT_NUMBER_RE)})))"
        )
    if column_type == "date":
        return (
            f"(strlen({v}) = 10 AND regexp_matches({v}, {_sql_string(DATETIME_RE)}) "
            f"AND TRY_CAST({v} AS DATE) IS NOT NULL)"
        )
    if column_type == "timestamp":
        return (
            f"(strlen({v}) BETWEEN 10 AND 26 AND regexp_matches({v}, {_sql_string(DATETIME_RE)}) AND "
            f"CASE WHEN strlen({v}) = 10 THEN TRY_CAST({v} AS DATE) IS NOT NULL "
            f"ELSE TRY_CAST({v} AS TIMESTAMP) IS NOT NULL END)"
        )
    return "true"


@dataclass(frozen=True)
class ColumnEvidence:
    """What the profile pass found for one column."""

    non_missing: int
    mask: int


WIDE_COLUMNS = 256


def profile_sql(source_sql: str, header: list[str], forced_string: frozenset[str], sentinel: str) -> str:
    """Per column: non-missing count and AND-ed type mask, as rows ``(name, non_missing, mask)``.

    ``source_sql`` is a relation whose columns are all VARCHAR (the ``read_csv`` call). Up to
    :data:`WIDE_COLUMNS` columns the aggregates are written per column (cheapest; columns that are always strings
    skip the mask); wider files are ``UNPIVOT``-ed so the statement size stays constant. The ``sentinel`` row
    carries the data row count.
    """
    if len(header) > WIDE_COLUMNS:
        return (
            "SELECT col_name, count(*) AS non_missing, bit_and("
            + value_mask_sql("col_value")
            + f") AS mask FROM (UNPIVOT (SELECT '1' AS {quote_ident(sentinel)}, * FROM {source_sql}) "
            "ON COLUMNS(*) INTO NAME col_name VALUE col_value) GROUP BY col_name"
        )
    items = ["count(*)"]
    for name in header:
        ident = quote_ident(name)
        items.append(f"count({ident})")
        if name in forced_string:
            items.append("0")
        else:
            items.append(f"bit_and(CASE WHEN {ident} IS NULL THEN NULL ELSE {value_mask_sql(ident)} END)")
    return f"SELECT {', '.join(items)} FROM {source_sql}"


def profile_rows(
    rows: list[tuple[object, ...]], header: list[str], sentinel: str
) -> tuple[dict[str, ColumnEvidence], int]:
    """Evidence per column that has values, and the data row count, from the rows of :func:`profile_sql`."""
    if len(header) > WIDE_COLUMNS:
        evidence = {str(name): ColumnEvidence(_int(n), _int(mask)) for name, n, mask in rows}
        counted = evidence.pop(sentinel, None)
        return evidence, counted.non_missing if counted else 0
    (row,) = rows
    out = {}
    for i, name in enumerate(header):
        non_missing = _int(row[1 + 2 * i])
        if non_missing:
            out[name] = ColumnEvidence(non_missing, _int(row[2 + 2 * i]))
    return out, _int(row[0])


def _int(value: object) -> int:
    return int(value) if isinstance(value, int) else 0


def decide_type(evidence: ColumnEvidence | None, *, force_string: bool = False) -> ColumnType:
    """The column type from the profile (see the module docstring for the rules)."""
    if force_string or evidence is None or evidence.non_missing == 0:
        return "string"
    mask = evidence.mask
    if mask & BOOL_BIT:
        return "boolean"
    if mask & INT_BIT:
        return "integer"
    if mask & FLOAT_BIT:
        return "float"
    if mask & DATE_BIT:
        return "date"
    if mask & TIMESTAMP_BIT:
        return "timestamp"
    return "string"


TYPE_BITS: dict[ColumnType, int] = {
    "boolean": BOOL_BIT,
    "integer": INT_BIT,
    "float": FLOAT_BIT,
    "date": DATE_BIT,
    "timestamp": TIMESTAMP_BIT,
}
TYPE_CHECK_FAILED = "ingest: a value does not fit the column type guessed from the first rows"


def verified_expression(name: str, column_type: ColumnType) -> str:
    """Select-list item converting text column ``name`` to ``column_type``, or failing the statement.

    Every non-missing value must pass :func:`type_predicate_sql` (equivalent to the profile pass's mask bit, so a
    type verified this way is exactly the type the whole-file profile would have chosen); otherwise ``error()``
    aborts the statement with :data:`TYPE_CHECK_FAILED`.
    """
    ident = quote_ident(name)
    if column_type == "string":
        return ident
    convert = (
        f"(lower({ident}) IN ({', '.join(_sql_string(t) for t in TRUE_TOKENS)}))"
        if column_type == "boolean"
        else f"CAST({ident} AS {DUCKDB_TYPES[column_type]})"
    )
    return (
        f"CASE WHEN {ident} IS NULL THEN NULL WHEN {type_predicate_sql(ident, column_type)} "
        f"THEN {convert} ELSE error({_sql_string(TYPE_CHECK_FAILED)}) END AS {ident}"
    )


def read_type(column_type: ColumnType) -> str:
    """DuckDB type used when reading the column from the CSV for the Parquet pass."""
    return "VARCHAR" if column_type == "boolean" else DUCKDB_TYPES[column_type]


def select_expression(name: str, column_type: ColumnType) -> str:
    """Select-list item producing the typed column under its original name."""
    ident = quote_ident(name)
    if column_type == "boolean":
        tokens = ", ".join(_sql_string(t) for t in TRUE_TOKENS)
        return f"(lower({ident}) IN ({tokens})) AS {ident}"
    return ident
