"""Wide (one row per participant) output, computed in the engine in two phases.

Phase 1 (:func:`compile_wide_discovery`): over the filtered long rows, find the distinct sessions and, per output
column, the largest number of distinct non-null values any participant has. Phase 2 (:func:`plan_wide` +
:func:`compile_wide`): a column is *static* when no participant has more than one distinct non-null value (over
the whole result) and is output once; otherwise it is *dynamic* and output as ``<column>_<session label>`` per
session label, by conditional aggregation. Each cell holds the first non-null value in long-row order (session,
then source-file row numbers), so duplicate participant-sessions resolve deterministically (first wins).

Labels follow BDT: ``BAS1``/``BASELINE1``/``BASE1``/``visit1``/``v1`` (any case) and ``1``/``1.0``/``1.00`` ->
``BAS1`` (same for 2 and 3); anything else is upper-cased with characters outside ``[A-Za-z0-9_]`` removed; an
empty result becomes ``SES<raw>``. Raw sessions sharing a label share its columns (first non-null in session
order). Labels follow the natural order of their raw sessions (``FU2`` before ``FU12``, ``2`` before ``10``).
Rows with a NULL session feed static columns only.
With ``consolidate_baseline`` (opt-in), when at least two of BAS1..BAS3 exist, each dynamic column's BAS1..3 columns
become one ``<column>_BAS`` holding the highest-numbered non-null value. Cross-sectional studies have no sessions:
their wide output is the long output.

Engine cost: on DuckDB each output column is ``arg_min(CASE .. value .., CASE .. long-row ordinal ..)`` over the
long rows numbered once by a window, so its state is one value and one ordinal per participant (an ordered
``ARRAY_AGG ... FILTER`` per column, the PostgreSQL form, made DuckDB keep megabytes per column: a 10-participant,
9,900-column result needed 21 GB). Very wide results are computed in column groups (``plan_chunks``), each a
separate statement over the same long rows, and joined back by position: DuckDB's aggregate cannot hold more than
one storage block (256 KiB) of states per group row, and the groups bound the memory by the engine budget.
Spark uses the same form (``min_by``), with the rows numbered within each participant.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from core.column_types import ColumnType, natural_sort_key
from queries.core.catalog import StudyCatalog
from queries.core.compiler._sql import (
    CompileError,
    Dialect,
    Frame,
    alias,
    ascending,
    check_dialect,
    ident,
    literal,
    ref,
    render,
    sort_key,
    validated,
)
from queries.core.compiler.rows import OutputColumn, long_frame, output_columns, unique_names
from queries.core.spec import ValidatedSpec, Value

_BASELINE = re.compile(r"(?:baseline|base|bas|visit|v)([123])|([123])(?:\.0+)?", re.IGNORECASE)
_CONSOLIDATE = ("BAS3", "BAS2", "BAS1")  # priority: the highest-numbered non-null value wins


def session_text(raw: Value) -> str:
    """Text of a raw session value (integral floats print as integers: 2.0 -> '2')."""
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, dt.datetime):
        return raw.isoformat(sep=" ")
    if isinstance(raw, dt.date):
        return raw.isoformat()
    return str(raw)


def session_label(raw: Value) -> str:
    text = session_text(raw).strip()
    m = _BASELINE.fullmatch(text)
    if m:
        return f"BAS{m.group(1) or m.group(2)}"
    cleaned = re.sub(r"[^A-Za-z0-9_]", "", text).upper()
    return cleaned or f"SES{text}"


#: Bytes of aggregate state per participant and output column, and per output column and engine thread (DuckDB
#: expression vectors), used to size column groups; measured on DuckDB 2.0 (docs/performance.md).
WIDE_STATE_BYTES = 64
WIDE_COLUMN_THREAD_BYTES = 64 * 1024
#: Most aggregates in one DuckDB statement (their states share one 256 KiB row per participant).
WIDE_MAX_AGGREGATES = 1_000


@dataclass(frozen=True)
class WideDiscovery:
    sessions_sql: str  # rows: one distinct non-null session each
    variability_sql: str | None  # one row: max distinct non-null values per participant, per value column, then
    # the number of participants (last column)
    value_columns: tuple[OutputColumn, ...]


@dataclass(frozen=True)
class WideColumn:
    name: str
    source: OutputColumn
    value_index: int  # index among value columns (v<i> in the long CTE)
    label: str | None  # None for static columns
    parts: tuple[tuple[Value, ...], ...] | None  # raw-session groups in priority order; None = static


@dataclass(frozen=True)
class WidePlan:
    id_column: OutputColumn
    columns: tuple[WideColumn, ...]
    labels: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return (self.id_column.name, *(c.name for c in self.columns))

    @property
    def types(self) -> tuple[ColumnType, ...]:
        return (self.id_column.type, *(c.source.type for c in self.columns))


def _long_cte(v: ValidatedSpec, dialect: Dialect, schema: str | None) -> tuple[exp.Select, Frame, list[OutputColumn]]:
    frame = long_frame(v, dialect, schema)
    values = [c for c in output_columns(v, v.catalog) if c.role == "value"]
    cols: list[exp.Expr] = [alias(frame.id(), "k_id")]
    session = frame.session()
    if session is not None:
        cols.append(alias(session, "k_ses"))
    cols += [alias(o, f"r{i}") for i, o in enumerate(frame.ordinals())]
    cols += [alias(frame.col(c.dataset, c.column), f"v{i}") for i, c in enumerate(values)]
    return frame.where(frame.attach(exp.select(*cols)), frame.conditions()), frame, values


def _require_longitudinal(catalog: StudyCatalog) -> None:
    if not catalog.longitudinal:
        raise CompileError("not_longitudinal", "Wide output needs sessions; this study is cross-sectional.")


def compile_wide_discovery(
    spec: ValidatedSpec, catalog: StudyCatalog, dialect: Dialect, *, schema: str | None = None
) -> WideDiscovery:
    dialect = check_dialect(dialect)
    _require_longitudinal(catalog)
    v = validated(spec, catalog)
    cte, _, values = _long_cte(v, dialect, schema)
    sessions = (
        exp.select(ref("k_ses"))
        .distinct()
        .from_("long_rows")
        .where(exp.Not(this=exp.Is(this=ref("k_ses"), expression=exp.Null())))
        .with_("long_rows", as_=cte)
    )
    variability = None
    if values:
        per_id = (
            exp.select(
                ref("k_id"),
                *[alias(exp.Count(this=exp.Distinct(expressions=[ref(f"v{i}")])), f"n{i}") for i in range(len(values))],
            )
            .from_("long_rows")
            .group_by(ref("k_id"))
        )
        outer = exp.select(
            *[alias(exp.Max(this=ref(f"n{i}", "g")), f"n{i}") for i in range(len(values))],
            alias(exp.Count(this=exp.Star()), "participants"),
        )
        variability = render(outer.from_(per_id.subquery(alias="g")).with_("long_rows", as_=cte), dialect)
    return WideDiscovery(render(sessions, dialect), variability, tuple(values))


def plan_wide(
    spec: ValidatedSpec,
    catalog: StudyCatalog,
    sessions: Sequence[Value],
    max_distinct: Sequence[int | None],
    *,
    max_columns: int | None = None,
) -> WidePlan:
    """Decide static/dynamic columns and names from the discovery results."""
    _require_longitudinal(catalog)
    v = validated(spec, catalog)
    outputs = output_columns(v, catalog)
    id_col = outputs[0]
    values = [c for c in outputs if c.role == "value"]
    if len(max_distinct) != len(values):
        raise ValueError("max_distinct must have one entry per value column")
    groups: dict[str, list[Value]] = {}
    for raw in sorted(set(sessions), key=lambda s: (natural_sort_key(session_text(s)), session_text(s))):
        groups.setdefault(session_label(raw), []).append(raw)
    labels = list(groups)  # in natural order of each label's first raw session
    consolidate = v.consolidate_baseline and sum(lbl in groups for lbl in _CONSOLIDATE) >= 2

    static: list[WideColumn] = []
    dynamic: list[WideColumn] = []
    for i, (col, n) in enumerate(zip(values, max_distinct, strict=True)):
        if (n or 0) <= 1:
            static.append(WideColumn(col.name, col, i, None, None))
            continue
        done_bas = False
        for lbl in labels:
            if consolidate and lbl in _CONSOLIDATE:
                if not done_bas:
                    parts = tuple(tuple(groups[b]) for b in _CONSOLIDATE if b in groups)
                    dynamic.append(WideColumn(f"{col.name}_BAS", col, i, "BAS", parts))
                    done_bas = True
                continue
            dynamic.append(WideColumn(f"{col.name}_{lbl}", col, i, lbl, (tuple(groups[lbl]),)))
    columns = static + dynamic
    if max_columns is not None and len(columns) + 1 > max_columns:
        raise CompileError(
            "too_many_columns", f"The wide result would have {len(columns) + 1} columns (limit {max_columns})."
        )
    names = unique_names([id_col.name, *(c.name for c in columns)])[1:]
    columns = [WideColumn(n, c.source, c.value_index, c.label, c.parts) for n, c in zip(names, columns, strict=True)]
    return WidePlan(id_col, tuple(columns), tuple(labels))


def wide_chunk_size(participants: int, memory_bytes: int, threads: int) -> int:
    """Output columns per DuckDB statement so that the aggregate states of one statement stay within
    ``memory_bytes`` (at least 1, at most :data:`WIDE_MAX_AGGREGATES`)."""
    per_column = max(1, participants) * WIDE_STATE_BYTES + max(1, threads) * WIDE_COLUMN_THREAD_BYTES
    return max(1, min(WIDE_MAX_AGGREGATES, memory_bytes // per_column))


def plan_chunks(plan: WidePlan, size: int) -> list[WidePlan]:
    """``plan`` split into plans of at most ``size`` value columns each (same id column and labels)."""
    size = max(1, size)
    columns = plan.columns or ()
    return [
        WidePlan(plan.id_column, tuple(columns[i : i + size]), plan.labels) for i in range(0, len(columns), size)
    ] or [plan]


def _name(name: str) -> exp.Column:
    """A quoted column reference built without copies (wide select lists have tens of thousands of them)."""
    return exp.Column(this=exp.Identifier(this=name, quoted=True))


def _cell_order(frame: Frame, dialect: Dialect) -> list[exp.Ordered]:
    """Long-row order inside a participant: session, then the source-file row numbers."""
    order = [ascending(sort_key(ref("k_ses"), frame.key_type("session"), dialect))]
    return order + [ascending(ref(f"r{i}")) for i in range(len(frame.aliases))]


def _numbered(v: ValidatedSpec, dialect: Dialect, schema: str | None) -> tuple[exp.Select, Frame]:
    """The long rows with ``k_ord``: their position in cell order (DuckDB: over all rows; Spark: within each
    participant, which is all a cell needs and keeps the window distributed)."""
    cte, frame, _ = _long_cte(v, dialect, schema)
    number = exp.Window(
        this=exp.RowNumber(),
        partition_by=[ref("k_id")] if dialect == "spark" else None,
        order=exp.Order(expressions=_cell_order(frame, dialect)),
    )
    return exp.select(exp.Star(), alias(number, "k_ord")).from_("long_rows").with_("long_rows", as_=cte), frame


def compile_wide_numbered(spec: ValidatedSpec, catalog: StudyCatalog, *, schema: str | None = None) -> str:
    """DuckDB: the long rows of a wide result (``k_id``, ``k_ses``, ``r<i>``, ``v<i>``) numbered in cell order
    (``k_ord``). An engine computing a wide result in column groups materializes them once and passes the
    relation's name to :func:`compile_wide` as ``rows_from``."""
    return render(wide_numbered_query(spec, catalog, schema=schema), "duckdb")


def wide_numbered_query(spec: ValidatedSpec, catalog: StudyCatalog, *, schema: str | None = None) -> exp.Select:
    """:func:`compile_wide_numbered` as a tree."""
    _require_longitudinal(catalog)
    query, _ = _numbered(validated(spec, catalog), "duckdb", schema)
    return query


def compile_wide(
    spec: ValidatedSpec,
    catalog: StudyCatalog,
    dialect: Dialect,
    plan: WidePlan,
    *,
    limit: int | None = None,
    schema: str | None = None,
    real_names: bool | None = None,
    rows_from: str | None = None,
) -> str:
    """:func:`wide_query` as SQL."""
    dialect = check_dialect(dialect)
    query = wide_query(
        spec, catalog, dialect, plan, limit=limit, schema=schema, real_names=real_names, rows_from=rows_from
    )
    return query.sql(dialect=dialect, identify=True, copy=False)  # the tree is ours and thrown away: no copy


def wide_query(
    spec: ValidatedSpec,
    catalog: StudyCatalog,
    dialect: Dialect,
    plan: WidePlan,
    *,
    limit: int | None = None,
    schema: str | None = None,
    real_names: bool | None = None,
    rows_from: str | None = None,
) -> exp.Select:
    """One row per participant (ordered by id) with the columns of ``plan``. On DuckDB, ``rows_from`` names a
    relation holding :func:`compile_wide_numbered`'s rows (otherwise they are computed in the statement)."""
    dialect = check_dialect(dialect)
    _require_longitudinal(catalog)
    v = validated(spec, catalog)
    real = dialect == "duckdb" if real_names is None else real_names
    by_ordinal = dialect in ("duckdb", "spark")  # arg_min / min_by over numbered rows
    if by_ordinal:
        numbered, frame = _numbered(v, dialect, schema)
    else:
        cte, frame, _ = _long_cte(v, dialect, schema)
    order = _cell_order(frame, dialect)

    def condition(index: int, sessions: tuple[Value, ...] | None) -> exp.Expr:
        present: exp.Expr = exp.Not(this=exp.Is(this=_name(f"v{index}"), expression=exp.Null()))
        if sessions is None:
            return present
        chosen = exp.In(this=_name("k_ses"), expressions=[literal(s) for s in sessions])
        return exp.And(this=chosen, expression=present)

    def first(index: int, sessions: tuple[Value, ...] | None) -> exp.Expr:
        """The first non-null value of ``v<index>`` in cell order (fresh nodes: no copies of big trees)."""
        if by_ordinal:  # the value of the smallest-numbered row that has one: one small state per cell
            when_value = exp.Case(ifs=[exp.If(this=condition(index, sessions), true=_name(f"v{index}"))])
            when_ord = exp.Case(ifs=[exp.If(this=condition(index, sessions), true=_name("k_ord"))])
            return exp.ArgMin(this=when_value, expression=when_ord)
        agg = exp.ArrayAgg(this=exp.Order(this=_name(f"v{index}"), expressions=[o.copy() for o in order]))
        filtered = exp.Filter(this=agg, expression=exp.Where(this=condition(index, sessions)))
        return exp.Bracket(this=exp.Paren(this=filtered), expressions=[exp.Literal.number(1)], offset=1)

    select_list: list[exp.Expr] = [alias(ref("k_id"), plan.id_column.name if real else "o0")]
    for i, col in enumerate(plan.columns, start=1):
        if col.parts is None:
            expr = first(col.value_index, None)
        else:
            firsts = [first(col.value_index, part) for part in col.parts]
            expr = firsts[0] if len(firsts) == 1 else exp.Coalesce(this=firsts[0], expressions=firsts[1:])
        select_list.append(exp.Alias(this=expr, alias=exp.Identifier(this=col.name if real else f"o{i}", quoted=True)))
    # Builders modify in place (copy=False): a wide select list has thousands of expressions.
    query = exp.select(*select_list, copy=False).group_by(ref("k_id"), copy=False)
    query = query.order_by(ascending(sort_key(ref("k_id"), frame.key_type("id"), dialect)), copy=False)
    if not by_ordinal:
        query = query.from_("long_rows", copy=False).with_("long_rows", as_=cte, copy=False)
    elif rows_from is not None:
        query = query.from_(exp.Table(this=ident(rows_from)), copy=False)
    else:
        query = query.from_("numbered_rows", copy=False).with_("numbered_rows", as_=numbered, copy=False)
    if limit is not None:
        query = query.limit(int(limit), copy=False)
    return query
