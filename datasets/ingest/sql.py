"""SQL text helpers for the DuckDB statements of the ingest core.

User text (column names) only ever enters SQL through :func:`quote_ident`; values and file paths are passed as
DuckDB parameters. Column names cannot contain NUL (such files are rejected as binary before any SQL is built).
"""

from __future__ import annotations

from collections.abc import Iterable


def quote_ident(name: str) -> str:
    """A DuckDB/PostgreSQL quoted identifier for ``name`` (embedded double quotes doubled)."""
    if "\x00" in name:
        raise ValueError("identifiers cannot contain NUL")
    return '"' + name.replace('"', '""') + '"'


def ident_list(names: Iterable[str]) -> str:
    return ", ".join(quote_ident(n) for n in names)


def read_csv_call(param_path: str, param_columns: str) -> str:
    """The ``read_csv`` call every pass uses: explicit dialect, no sniffing, strict RFC 4180 parsing.

    Parameters expected by name: the path, the columns mapping (name -> DuckDB type), ``$delim``, ``$nullstr``
    and ``$max_line``.
    """
    return (
        f"read_csv(${param_path}, columns = ${param_columns}, header = true, auto_detect = false, "
        "delim = $delim, quote = '\"', escape = '\"', strict_mode = true, nullstr = $nullstr, "
        "max_line_size = $max_line, parallel = true)"
    )
