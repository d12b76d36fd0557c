"""Count and filtering-report (steps) queries.

Counts join only the datasets that carry filters: a LEFT JOIN without a condition can multiply rows but never
changes a distinct count. ``participants`` = distinct ids, ``rows`` = distinct merge keys (id, or (id, session)
pairs counted through ``SELECT DISTINCT`` of both columns, so no string concatenation and no collisions).

With a record-key table in the catalog (disclosure control), the same pass also returns the **cell keys**: per
participant counted, their record key is joined once; ``participants_key`` = the sum of the record keys of the
distinct participants, ``rows_key`` = the sum over the counted merge keys of their participant's record key. The
keys are plain ``BIGINT`` columns of the key table (never literals in the SQL), summed exactly by both engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

from queries.core.catalog import INDEX_PID, StoreIndex, StudyCatalog
from queries.core.compiler._sql import (
    Condition,
    Dialect,
    Frame,
    alias,
    check_dialect,
    record_keys_join,
    ref,
    render,
    validated,
)
from queries.core.spec import ResolvedFilter, ValidatedSpec, Value

StepType = Literal["initial", "site", "session", "participants", "filter"]


@dataclass(frozen=True)
class StepInfo:
    step: int
    type: StepType
    description: str


@dataclass(frozen=True)
class StepsQuery:
    """One query returning a small histogram: rows ``(level, reach, count, key)`` where ``level`` is ``"r"`` (merge
    keys) or ``"p"`` (participants), ``reach`` the number of leading conditions passed plus one, ``count`` how many
    have that reach and ``key`` the sum of their record keys (0 without record keys). Step ``i`` counts those with
    reach above ``i`` (:func:`steps_from_histogram`)."""

    sql: str
    steps: tuple[StepInfo, ...]
    keyed: bool = False


@dataclass(frozen=True)
class StepTotals:
    """One step's counts (and cell keys, 0 without record keys)."""

    participants: int
    rows: int
    participants_key: int
    rows_key: int


def steps_from_histogram(rows: list[tuple[object, ...]], steps: int) -> list[StepTotals]:
    """Per step 0..``steps``: the totals of everything whose reach is above the step (cumulative sums)."""
    by_level: dict[str, dict[int, tuple[int, int]]] = {"p": {}, "r": {}}
    for level, reach, count, key in rows:
        by_level[str(level)][int(str(reach))] = (int(str(count)), int(str(key)))
    totals: list[StepTotals] = []
    for step in range(steps + 1):
        above = {
            level: [value for reach, value in values.items() if reach > step] for level, values in by_level.items()
        }
        totals.append(
            StepTotals(
                participants=sum(count for count, _ in above["p"]),
                rows=sum(count for count, _ in above["r"]),
                participants_key=sum(key for _, key in above["p"]),
                rows_key=sum(key for _, key in above["r"]),
            )
        )
    return totals


def _key_select(frame: Frame) -> list[exp.Expr]:
    cols: list[exp.Expr] = [alias(frame.key_id(), "k_id")]
    session = frame.key_session()
    if session is not None:
        cols.append(alias(session, "k_ses"))
    return cols


KEYED_COUNT_COLUMNS = ("participants", "rows", "participants_key", "rows_key")


def _total(expression: exp.Expr) -> exp.Expr:
    """``COALESCE(SUM(expression), 0)``: sums over no participant are 0, not NULL."""
    return exp.Coalesce(this=exp.Sum(this=expression), expressions=[exp.Literal.number(0)])


def _record_key() -> exp.Expr:
    return exp.Coalesce(this=ref("c1", "rk"), expressions=[exp.Literal.number(0)])


def participant_bitmap(index: StoreIndex, condition: exp.Expr | None = None) -> exp.Expr:
    """How many participants have a row (of the store's wide table, aliased ``d0``) passing ``condition``: the
    ``pid`` of those rows set as bits of one bitmap over ``1..participants``, counted (0 when none)."""
    bits: exp.Expr = exp.Anonymous(
        this="BITSTRING_AGG",
        expressions=[ref(INDEX_PID, "d0"), exp.Literal.number(1), exp.Literal.number(index.participants)],
    )
    if condition is not None:
        bits = exp.Filter(this=bits, expression=exp.Where(this=condition))
    return exp.Coalesce(this=exp.func("BIT_COUNT", bits), expressions=[exp.Literal.number(0)])


def _bitmap_count(frame: Frame, index: StoreIndex) -> exp.Select:
    """The count on a wide store with one row per merge key: the passing rows are the merge keys (``COUNT(*)``),
    their ``pid`` bits the participants (no hashing, no DISTINCT)."""
    select = exp.select(alias(participant_bitmap(index), "participants"), alias(exp.Count(this=exp.Star()), "rows"))
    return frame.where(frame.attach(select), frame.conditions())


def compile_count(
    spec: ValidatedSpec,
    catalog: StudyCatalog,
    dialect: Dialect,
    *,
    schema: str | None = None,
    index: StoreIndex | None = None,
) -> str:
    """SQL returning one row: ``participants`` (distinct ids) and ``rows`` (distinct merge keys), plus
    ``participants_key`` and ``rows_key`` when the catalog has record keys. ``index``: the attached participant
    index store of the catalog's version set (DuckDB; see :class:`~queries.core.compiler._sql.Frame`)."""
    dialect = check_dialect(dialect)
    v = validated(spec, catalog)
    frame = Frame(v, dialect, schema, v.filter_datasets, index)
    if frame.index is not None and frame.index.bitmaps and catalog.record_keys is None:
        return render(_bitmap_count(frame, frame.index), dialect)
    keys = exp.select(*_key_select(frame))
    if frame.index is None or not frame.index.unique_keys:  # one row per merge key needs no DISTINCT
        keys = keys.distinct()
    inner = frame.where(frame.attach(keys), frame.conditions())
    if catalog.record_keys is not None:
        per = (
            exp.select(ref("k_id", "k"), alias(exp.Count(this=exp.Star()), "n"))
            .from_(inner.subquery(alias="k"))
            .group_by(ref("k_id", "k"))
        )
        n = ref("n", "p")
        per_participant = exp.select().from_(per.subquery(alias="p"))
        keyed = record_keys_join(per_participant, catalog, dialect, schema, frame.index).select(
            alias(exp.Count(this=exp.Star()), "participants"),
            alias(_total(n), "rows"),
            alias(_total(_record_key()), "participants_key"),
            alias(_total(exp.Mul(this=_record_key(), expression=n)), "rows_key"),
        )
        return render(keyed, dialect)
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


def _reach(conditions: list[Condition]) -> exp.Expr:
    """Per joined row: 1 + the number of leading conditions it satisfies (a NULL condition does not hold). A row is
    in step ``i`` exactly when its reach is above ``i``, so each condition appears once in the SQL (not once per
    later step): a report of 200 filters stays a small statement."""
    if not conditions:
        return exp.Literal.number(1)
    ifs = [
        exp.If(
            this=exp.Not(this=exp.Coalesce(this=cond.expression, expressions=[exp.false()])),
            true=exp.Literal.number(i),
        )
        for i, cond in enumerate(conditions, start=1)
    ]
    return exp.Case(ifs=ifs, default=exp.Literal.number(len(conditions) + 1))


def compile_steps(
    spec: ValidatedSpec,
    catalog: StudyCatalog,
    dialect: Dialect,
    *,
    schema: str | None = None,
    index: StoreIndex | None = None,
) -> StepsQuery:
    """The filtering report in one scan (bdt-reference §3.7, in our order).

    Step 0 = the same joins with no filters; then site -> session -> participant list -> each filter in order, each
    step cumulative. Per merge key, ``reach`` = the largest reach of its joined rows (see :func:`_reach`): the merge
    key is in step ``i`` when some joined row satisfies all conditions up to ``i`` on that same row (so same-dataset
    filters keep their same-row semantics); a participant is in step ``i`` when one of their merge keys is. The
    query returns how many merge keys and participants have each reach (a histogram of at most two rows per step,
    whatever the data size: no per-step columns to hold in memory), with their record keys' sums when the catalog
    has record keys.
    """
    dialect = check_dialect(dialect)
    v = validated(spec, catalog)
    frame = Frame(v, dialect, schema, v.filter_datasets, index)
    conditions = frame.conditions()
    group_keys = [frame.key_id()] + ([s] if (s := frame.key_session()) is not None else [])
    reach = alias(exp.Max(this=_reach(conditions)), "reach")
    inner = frame.where(frame.attach(exp.select(*_key_select(frame), reach)), []).group_by(*group_keys)
    people = (
        exp.select(ref("k_id", "k"), alias(exp.Max(this=ref("reach", "k")), "reach"))
        .from_(
            exp.Table(
                this=exp.to_identifier("k", quoted=True), alias=exp.TableAlias(this=exp.to_identifier("k", quoted=True))
            )
        )
        .group_by(ref("k_id", "k"))
    )
    levels = []
    for level, source in (("r", "k"), ("p", "pk")):
        table = exp.Table(
            this=exp.to_identifier(source, quoted=True), alias=exp.TableAlias(this=exp.to_identifier("p", quoted=True))
        )
        select = exp.select(
            alias(exp.Literal.string(level), "level"),
            ref("reach", "p"),
            alias(exp.Count(this=exp.Star()), "n"),
            alias(_total(_record_key()) if catalog.record_keys is not None else exp.Literal.number(0), "key"),
        ).from_(table)
        if catalog.record_keys is not None:
            select = record_keys_join(select, catalog, dialect, schema, frame.index)
        levels.append(select.group_by(ref("reach", "p")))
    query = exp.union(levels[0], levels[1], distinct=False).with_("k", as_=inner).with_("pk", as_=people)
    steps = [StepInfo(0, "initial", "Initial cohort (no filters)")]
    steps += [StepInfo(i, cond.kind, _describe(cond, v)) for i, cond in enumerate(conditions, 1)]
    return StepsQuery(render(query, dialect), tuple(steps), keyed=catalog.record_keys is not None)
