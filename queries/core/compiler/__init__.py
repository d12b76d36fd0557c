"""QuerySpec + StudyCatalog -> SQL for DuckDB or PostgreSQL, built only as sqlglot ASTs.

Semantics (bdt-reference §2.5, §3, without BDT's bugs): the demographics table drives (``FROM`` demographics);
every other dataset named in filters or columns is LEFT JOINed once on the merge key (id, or id + session when
longitudinal); tables are never joined to each other; all conditions are AND-ed; values inside ``in`` are OR-ed;
two filters on one dataset must hold on the same joined row; a condition on a joined dataset makes that join
effectively inner (intended: "has a matching row").

Physical names are positional (see ``queries.core.catalog``); user text reaches SQL only as literals (values) or as
quoted aliases taken from the catalog (output column names on DuckDB).
"""

from __future__ import annotations

from sqlglot import exp

from queries.core.catalog import StudyCatalog
from queries.core.compiler._sql import DIALECTS, CompileError, Dialect, check_dialect, validated
from queries.core.compiler.count import (
    StepInfo,
    StepsQuery,
    StepTotals,
    StepType,
    compile_count,
    compile_steps,
    describe_filter,
    steps_from_histogram,
)
from queries.core.compiler.rows import OutputColumn, compile_long, long_query, output_columns, unique_names
from queries.core.compiler.wide import (
    WIDE_MAX_AGGREGATES,
    WideColumn,
    WideDiscovery,
    WidePlan,
    compile_wide,
    compile_wide_discovery,
    compile_wide_numbered,
    plan_chunks,
    plan_wide,
    session_label,
    session_text,
    wide_chunk_size,
    wide_numbered_query,
    wide_query,
)
from queries.core.spec import Shape, ValidatedSpec


def compile_rows(
    spec: ValidatedSpec,
    catalog: StudyCatalog,
    dialect: Dialect,
    shape: Shape | None = None,
    *,
    plan: WidePlan | None = None,
    limit: int | None = None,
    schema: str | None = None,
    real_names: bool | None = None,
) -> str:
    """Result rows in ``shape`` (default: the spec's). Wide output of a longitudinal study needs the ``plan`` made
    by :func:`plan_wide` from the results of :func:`compile_wide_discovery`; for cross-sectional studies wide output
    is the long output."""
    query = rows_query(spec, catalog, dialect, shape, plan=plan, limit=limit, schema=schema, real_names=real_names)
    return query.sql(dialect=dialect, identify=True, copy=False)


def rows_query(
    spec: ValidatedSpec,
    catalog: StudyCatalog,
    dialect: Dialect,
    shape: Shape | None = None,
    *,
    plan: WidePlan | None = None,
    limit: int | None = None,
    schema: str | None = None,
    real_names: bool | None = None,
) -> exp.Select:
    """:func:`compile_rows` as a tree (an engine may wrap it, e.g. in DuckDB's ``COPY``)."""
    check_dialect(dialect)
    v = validated(spec, catalog)
    if (shape or v.shape) == "wide" and catalog.longitudinal:
        if plan is None:
            raise CompileError("wide_needs_plan", "Wide output needs a plan from the discovery queries.")
        return wide_query(v, catalog, dialect, plan, limit=limit, schema=schema, real_names=real_names)
    return long_query(v, catalog, dialect, limit=limit, schema=schema, real_names=real_names)


__all__ = [
    "DIALECTS",
    "WIDE_MAX_AGGREGATES",
    "CompileError",
    "Dialect",
    "OutputColumn",
    "StepInfo",
    "StepTotals",
    "StepType",
    "StepsQuery",
    "WideColumn",
    "WideDiscovery",
    "WidePlan",
    "check_dialect",
    "compile_count",
    "compile_long",
    "compile_rows",
    "compile_steps",
    "compile_wide",
    "compile_wide_discovery",
    "compile_wide_numbered",
    "describe_filter",
    "long_query",
    "output_columns",
    "plan_chunks",
    "plan_wide",
    "rows_query",
    "session_label",
    "session_text",
    "steps_from_histogram",
    "unique_names",
    "validated",
    "wide_chunk_size",
    "wide_numbered_query",
    "wide_query",
]
