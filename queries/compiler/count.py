"""Count and filtering-report (steps) queries.

Counts join only the datasets that carry filters: a LEFT JOIN without a condition can multiply rows but never
changes a distinct count. ``participants`` = distinct ids, ``rows`` = distinct merge keys (id, or (id, session)
pairs counted through ``SELECT DISTINCT`` of both columns, so no string concatenation and no collisions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

from queries.catalog import StudyCatalog
from queries.compiler._sql import Condition, Dialect, Frame, alias, check_dialect, ref, render, validated
from queries.spec import QuerySpec, ResolvedFilter, ValidatedSpec, Value

StepType = Literal["initial", "site", "session", "participants", "filter"]


@dataclass(frozen=True)
class StepInfo:
    step: int
    type: StepType
    description: str
    participants_column: str  # column of the steps query holding this step's participant count
    rows_column: str  # ... and its distinct merge-key count


@dataclass(frozen=True)
class StepsQuery:
    """One query returning a single row with ``p<i>`` / ``r<i>`` for every step (cumulative filters)."""

    sql: str
    steps: tuple[StepInfo, ...]


def _key_select(frame: Frame) -> list[exp.Expr]:
    cols: list[exp.Expr] = [alias(frame.id(), "k_id")]
    session = frame.session()
    if session is not None:
        cols.append(alias(session, "k_ses"))
    return cols


def compile_count(
    spec: QuerySpec | ValidatedSpec, catalog: StudyCatalog, dialect: Dialect, *, schema: str | None = None
) -> str:
    """SQL returning one row: ``participants`` (distinct ids) and ``rows`` (distinct merge keys)."""
    dialect = check_dialect(dialect)
    v = validated(spec, catalog)
    frame = Frame(v, dialect, schema, v.filter_datasets)
    inner = frame.where(frame.attach(exp.select(*_key_select(frame)).distinct()), frame.conditions())
    outer = exp.select(
        alias(exp.Count(this=exp.Distinct(expressions=[ref("k_id", "k")])), "participants"),
        alias(exp.Count(this=exp.Star()), "rows"),
    ).from_(inner.subquery(alias="k"))
    return render(outer, dialect)


def _fmt(value: Value) -> str:
    return str(value)


def describe_filter(f: ResolvedFilter) -> str:
    """Human description of one filter for the report (plain text, never SQL)."""
    name = f"{f.dataset}.{f.column}"
    vals = [_fmt(x) for x in f.values]
    if f.op == "between":
        return f"{name}: {vals[0]} to {vals[1]}"
    if f.op in ("in", "not_in"):
        shown = ", ".join(vals) if len(vals) <= 3 else f"{len(vals)} values"
        return f"{name} {'in' if f.op == 'in' else 'not in'}: {shown}"
    if f.op == "is_null":
        return f"{name} is missing"
    if f.op == "not_null":
        return f"{name} is not missing"
    symbol = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[f.op]
    return f"{name} {symbol} {vals[0]}"


def _describe(cond: Condition, v: ValidatedSpec) -> str:
    if cond.kind == "site":
        return "Site: " + ", ".join(v.sites)
    if cond.kind == "session":
        return "Session: " + ", ".join(_fmt(s) for s in v.sessions)
    if cond.kind == "participants":
        n = len(v.participants)
        return f"Participant list: {n} id{'s' if n != 1 else ''}"
    assert cond.filter is not None
    return describe_filter(cond.filter)


def compile_steps(
    spec: QuerySpec | ValidatedSpec, catalog: StudyCatalog, dialect: Dialect, *, schema: str | None = None
) -> StepsQuery:
    """The filtering report in one scan (bdt-reference §3.7, in our order).

    Step 0 = the same joins with no filters; then site -> session -> participant list -> each filter in order, each
    step cumulative. Per merge key a flag ``f<i>`` says whether some joined row satisfies all conditions up to step
    ``i`` on that same row (so same-dataset filters keep their same-row semantics); the outer query counts flags.
    """
    dialect = check_dialect(dialect)
    v = validated(spec, catalog)
    frame = Frame(v, dialect, schema, v.filter_datasets)
    conditions = frame.conditions()
    flags: list[exp.Expr] = []
    for i in range(1, len(conditions) + 1):
        cumulative = exp.and_(*[c.expression for c in conditions[:i]])
        any_row = exp.Coalesce(this=exp.LogicalOr(this=cumulative), expressions=[exp.false()])
        flags.append(alias(any_row, f"f{i}"))
    group_keys = [frame.id()] + ([s] if (s := frame.session()) is not None else [])
    inner = frame.where(frame.attach(exp.select(*_key_select(frame), *flags)), [])
    inner = inner.group_by(*group_keys)

    outer_cols: list[exp.Expr] = [
        alias(exp.Count(this=exp.Distinct(expressions=[ref("k_id", "k")])), "p0"),
        alias(exp.Count(this=exp.Star()), "r0"),
    ]
    steps = [StepInfo(0, "initial", "Initial cohort (no filters)", "p0", "r0")]
    for i, cond in enumerate(conditions, start=1):
        flag = ref(f"f{i}", "k")
        when_id = exp.Case(ifs=[exp.If(this=flag, true=ref("k_id", "k"))])
        when_one = exp.Case(ifs=[exp.If(this=flag, true=exp.Literal.number(1))])
        outer_cols.append(alias(exp.Count(this=exp.Distinct(expressions=[when_id])), f"p{i}"))
        outer_cols.append(alias(exp.Count(this=when_one), f"r{i}"))
        steps.append(StepInfo(i, cond.kind, _describe(cond, v), f"p{i}", f"r{i}"))
    outer = exp.select(*outer_cols).from_(inner.subquery(alias="k"))
    return StepsQuery(render(outer, dialect), tuple(steps))
