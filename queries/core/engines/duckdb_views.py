"""How DuckDB reads one dataset version's Parquet file: the positional, typed projection both the engine's views
and the participant index store are made of.

``c<i>`` = the catalog's i-th column cast to its catalog type, plus ``__row`` = DuckDB's ``file_row_number``
(0-based row in the file). The path is handed to DuckDB's API, never spliced into SQL.
"""

from __future__ import annotations

import logging

import duckdb
import pyarrow.parquet as pq
from sqlglot import exp

from core.column_types import DUCKDB_TYPES
from queries.core.catalog import ROW_ORDINAL, DatasetInfo
from queries.core.engines.contract import EngineError

logger = logging.getLogger(__name__)


def quote(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def version_relation(con: duckdb.DuckDBPyConnection, path: str, ds: DatasetInfo) -> duckdb.DuckDBPyRelation:
    """The version's rows as the engines see them (``c0..cn`` typed, ``__row``); EngineError when the file is
    unreadable or does not hold the registered columns."""
    try:
        file_names = pq.read_schema(path).names
    except Exception as exc:
        logger.warning("unreadable parquet for %s v%s: %s", ds.name, ds.version, exc)
        raise EngineError(f"The data file of dataset {ds.name!r} (version {ds.version}) is unreadable.") from exc
    relation = con.read_parquet(path)
    duck_names = relation.columns  # file order; DuckDB renames case-insensitive duplicates (age -> age_1)
    exprs = []
    for i, col in enumerate(ds.columns):
        if col.name not in file_names:
            raise EngineError(f"The data file of dataset {ds.name!r} does not match its registered columns.")
        source = quote(duck_names[file_names.index(col.name)])
        exprs.append(f"CAST({source} AS {DUCKDB_TYPES[col.type]}) AS {quote(f'c{i}')}")
    shadowed = any(n.lower() == "file_row_number" for n in duck_names)
    # A real column called file_row_number hides DuckDB's virtual one; then number the (order-preserving) scan.
    ordinal = "(ROW_NUMBER() OVER () - 1)" if shadowed else "file_row_number"
    exprs.append(f"{ordinal} AS {quote(ROW_ORDINAL)}")
    return relation.project(", ".join(exprs))
