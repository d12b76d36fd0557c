"""Long-format result rows and the output column list.

Column order: id, session (longitudinal), every non-key demographics column (file order), then the picked columns
of each other dataset (``columns`` order, pick order, duplicates removed).

Naming rule: demographics and key columns keep their names. A picked column keeps its bare name unless that name
(compared case-insensitively) is also the name of a demographics/key output column or of a column picked from
another dataset; then it is output as ``<dataset>.<column>``. Should a name still clash (e.g. a demographics column
literally called ``cog.score``), later columns get ``_2``, ``_3``, ... appended. The rule only looks at the output
column list, so the same spec always gives the same names.

Row order: id, session, then the source-file row number of every involved dataset (demographics first), i.e. a
total order for the rows of the join (NULLs last); strings sort by code point on every engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

from core.column_types import ColumnType
from queries.core.catalog import StudyCatalog
from queries.core.compiler._sql import Dialect, Frame, alias, ascending, check_dialect, render, sort_key, validated
from queries.core.spec import ValidatedSpec


@dataclass(frozen=True)
class OutputColumn:
    name: str
    dataset: str
    column: str
    type: ColumnType
    role: Literal["id", "session", "value"]


def unique_names(names: Iterable[str]) -> list[str]:
    """Make names unique case-insensitively by appending ``_2``, ``_3``, ... to later duplicates."""
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 1
        while candidate.casefold() in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate.casefold())
        out.append(candidate)
    return out


def output_columns(spec: ValidatedSpec, catalog: StudyCatalog) -> tuple[OutputColumn, ...]:
    """The long output columns, in order, with their final names."""
    v = validated(spec, catalog)
    keys, demo = catalog.keys, catalog.demo
    cols: list[OutputColumn] = [
        OutputColumn(keys.id_column, demo.name, keys.id_column, demo.type_of(keys.id_column), "id")
    ]
    if keys.session_column is not None:
        stype = demo.type_of(keys.session_column)
        cols.append(OutputColumn(keys.session_column, demo.name, keys.session_column, stype, "session"))
    for c in demo.columns:
        if not catalog.is_key_column(demo.name, c.name) and c.name not in v.excluded:
            cols.append(OutputColumn(c.name, demo.name, c.name, c.type, "value"))
    fixed = {c.name.casefold() for c in cols}
    owners: dict[str, set[str]] = {}
    for ds_name, picked in v.picks:
        for col_name in picked:
            owners.setdefault(col_name.casefold(), set()).add(ds_name)
    for ds_name, picked in v.picks:
        ds = catalog.datasets[ds_name]
        for col_name in picked:
            clash = col_name.casefold() in fixed or len(owners[col_name.casefold()]) > 1
            name = f"{ds_name}.{col_name}" if clash else col_name
            cols.append(OutputColumn(name, ds_name, col_name, ds.type_of(col_name), "value"))
    names = unique_names(c.name for c in cols)
    return tuple(OutputColumn(n, c.dataset, c.column, c.type, c.role) for n, c in zip(names, cols, strict=True))


def order_keys(frame: Frame) -> list[exp.Expr]:
    keys: list[exp.Expr] = [sort_key(frame.id(), frame.key_type("id"), frame.dialect)]
    session = frame.session()
    if session is not None:
        keys.append(sort_key(session, frame.key_type("session"), frame.dialect))
    return [ascending(k) for k in [*keys, *frame.ordinals()]]


def long_frame(v: ValidatedSpec, dialect: Dialect, schema: str | None) -> Frame:
    return Frame(v, dialect, schema, v.joined)


def compile_long(
    spec: ValidatedSpec,
    catalog: StudyCatalog,
    dialect: Dialect,
    *,
    limit: int | None = None,
    schema: str | None = None,
    real_names: bool | None = None,
) -> str:
    """Long rows (see :func:`long_query`)."""
    dialect = check_dialect(dialect)
    return render(long_query(spec, catalog, dialect, limit=limit, schema=schema, real_names=real_names), dialect)


def long_query(
    spec: ValidatedSpec,
    catalog: StudyCatalog,
    dialect: Dialect,
    *,
    limit: int | None = None,
    schema: str | None = None,
    real_names: bool | None = None,
) -> exp.Select:
    """Long rows, as a tree. Output aliases are the real column names (``real_names``, default for DuckDB, whose
    COPY writes them to Parquet) or positional ``o0``, ``o1``, ... (default for PostgreSQL, whose identifiers are
    capped at 63 bytes; its engine names the Parquet columns from :func:`output_columns`)."""
    dialect = check_dialect(dialect)
    v = validated(spec, catalog)
    real = dialect == "duckdb" if real_names is None else real_names
    frame = long_frame(v, dialect, schema)
    select_list = [
        alias(frame.col(c.dataset, c.column), c.name if real else f"o{i}")
        for i, c in enumerate(output_columns(v, catalog))
    ]
    query = frame.where(frame.attach(exp.select(*select_list)), frame.conditions())
    query = query.order_by(*order_keys(frame))
    if limit is not None:
        query = query.limit(int(limit))
    return query
