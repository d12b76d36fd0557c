"""The live drop-off of a count: for each filter, who remains after it (in order) and who it removes on its own.

One statement, one scan of the joined rows. The selections (sites, sessions, participant list) restrict the rows;
the filters are evaluated once per joined row into booleans ``b1..bn`` (a NULL condition does not hold). From them,
per row:

- ``reach`` = 1 + the number of leading filters the row passes (as in the filtering report), and
- ``alone`` = 0 when the row passes every filter, ``i`` when filter ``i`` is the only one it fails, -1 otherwise.

A merge key (id, or id + session) keeps the largest reach of its rows, so filters on one dataset keep their
same-row semantics; a participant keeps the largest reach of their merge keys. A participant *removed by filter i
alone* has no row passing every filter but some row failing only filter ``i`` (they would be counted without
filter ``i``); their merge keys counted with them are those with such a row. The query returns a small histogram:
rows ``(kind, level, bucket, n, key)`` where ``kind`` is ``"c"`` (cumulative: ``bucket`` = reach) or ``"a"`` (alone:
``bucket`` = the filter's 1-based position), ``level`` ``"r"`` (merge keys) or ``"p"`` (participants), ``n`` how many
and ``key`` the sum of their record keys (0 without record keys). Every number of the drop-off is the count of one
set of participants, so each is a cell of the disclosure-control method on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from queries.core.catalog import StudyCatalog
from queries.core.compiler._sql import Dialect, Frame, alias, check_dialect, ref, render, table_ref, validated
from queries.core.spec import ValidatedSpec

#: Columns of every histogram row, in order.
HISTOGRAM_COLUMNS = ("kind", "level", "bucket", "n", "key")


@dataclass(frozen=True)
class DropoffQuery:
    sql: str
    filters: int
    keyed: bool = False


@dataclass(frozen=True)
class DropoffCell:
    """The true counts of one drop-off set (keys 0 without record keys)."""

    participants: int
    rows: int
    participants_key: int
    rows_key: int


@dataclass(frozen=True)
class DropoffTotals:
    """``start``: after the selections, before any filter; ``remaining[i]``: after filters 1..i+1;
    ``removed_alone[i]``: removed by filter i+1 and by no other filter."""

    start: DropoffCell
    remaining: tuple[DropoffCell, ...]
    removed_alone: tuple[DropoffCell, ...]

    @property
    def total(self) -> DropoffCell:
        """What the whole spec counts (the same set as the count)."""
        return self.remaining[-1] if self.remaining else self.start


def _table(name: str, alias_name: str) -> exp.Table:
    return exp.Table(
        this=exp.to_identifier(name, quoted=True), alias=exp.TableAlias(this=exp.to_identifier(alias_name, quoted=True))
    )


def _num(value: int) -> exp.Expr:
    return exp.Literal.number(value)


def _case(condition: exp.Expr, then: exp.Expr, default: exp.Expr) -> exp.Case:
    return exp.Case(ifs=[exp.If(this=condition, true=then)], default=default)


def _sum(items: list[exp.Expr]) -> exp.Expr:
    if not items:
        return _num(0)
    total = items[0]
    for item in items[1:]:
        total = exp.Add(this=total, expression=item)
    return exp.Paren(this=total)


def _record_key() -> exp.Expr:
    return exp.Coalesce(this=ref("c1", "rk"), expressions=[_num(0)])


def compile_dropoff(
    spec: ValidatedSpec, catalog: StudyCatalog, dialect: Dialect, *, schema: str | None = None
) -> DropoffQuery:
    """The drop-off histogram query of ``spec`` (see the module docstring)."""
    dialect = check_dialect(dialect)
    v = validated(spec, catalog)
    frame = Frame(v, dialect, schema, v.filter_datasets)
    conditions = frame.conditions()
    selections = [c for c in conditions if c.kind != "filter"]
    filters = [c for c in conditions if c.kind == "filter"]
    n = len(filters)
    session = frame.session()
    keys = ["k_id"] + (["k_ses"] if session is not None else [])

    # Per joined row: the merge key and one boolean per filter (each condition once in the statement).
    booleans = [alias(frame.id(), "k_id")] + ([alias(session, "k_ses")] if session is not None else [])
    booleans += [
        alias(exp.Coalesce(this=c.expression, expressions=[exp.false()]), f"b{i}") for i, c in enumerate(filters, 1)
    ]
    base = frame.where(frame.attach(exp.select(*booleans)), selections)
    passed = [ref(f"b{i}", "b") for i in range(1, n + 1)]
    reach: exp.Expr = (
        exp.Case(ifs=[exp.If(this=exp.Not(this=b), true=_num(i)) for i, b in enumerate(passed, 1)], default=_num(n + 1))
        if n
        else _num(1)
    )
    fails = _sum([_case(b, _num(0), _num(1)) for b in passed])
    missed = _sum([_case(b, _num(0), _num(i)) for i, b in enumerate(passed, 1)])
    alone = exp.Case(
        ifs=[
            exp.If(this=exp.EQ(this=fails, expression=_num(0)), true=_num(0)),
            exp.If(this=exp.EQ(this=fails.copy(), expression=_num(1)), true=missed),
        ],
        default=_num(-1),
    )
    rows = exp.select(*(ref(k, "b") for k in keys), alias(reach, "reach"), alias(alone, "alone")).from_(
        base.subquery(alias="b")
    )
    merge_keys = (
        exp.select(
            *(ref(k, "r") for k in keys),
            alias(exp.Max(this=ref("reach", "r")), "reach"),
            alias(exp.Max(this=_case(exp.EQ(this=ref("alone", "r"), expression=_num(0)), _num(1), _num(0))), "ok"),
        )
        .from_(_table("r", "r"))
        .group_by(*(ref(k, "r") for k in keys))
    )
    people = (
        exp.select(
            ref("k_id", "m"),
            alias(exp.Max(this=ref("reach", "m")), "reach"),
            alias(exp.Max(this=ref("ok", "m")), "ok"),
        )
        .from_(_table("mk", "m"))
        .group_by(ref("k_id", "m"))
    )
    # Merge keys (and then participants) with a row failing only filter i, of participants with no row passing all.
    alone_keys = (
        exp.select(*(ref(k, "r") for k in keys), ref("alone", "r"))
        .distinct()
        .from_(_table("r", "r"))
        .join(
            _table("pk", "q"),
            on=exp.EQ(this=ref("k_id", "q"), expression=ref("k_id", "r")),
            join_type="INNER",
        )
        .where(
            exp.and_(
                exp.GT(this=ref("alone", "r"), expression=_num(0)),
                exp.EQ(this=ref("ok", "q"), expression=_num(0)),
            )
        )
    )
    alone_people = exp.select(ref("k_id", "o"), ref("alone", "o")).distinct().from_(_table("mo", "o"))

    keyed = catalog.record_keys is not None
    branches = []
    for kind, level, source, bucket in (
        ("c", "r", "mk", "reach"),
        ("c", "p", "pk", "reach"),
        ("a", "r", "mo", "alone"),
        ("a", "p", "po", "alone"),
    ):
        key = exp.Coalesce(this=exp.Sum(this=_record_key()), expressions=[_num(0)]) if keyed else _num(0)
        select = exp.select(
            alias(exp.Literal.string(kind), "kind"),
            alias(exp.Literal.string(level), "level"),
            alias(ref(bucket, "p"), "bucket"),
            alias(exp.Count(this=exp.Star()), "n"),
            alias(key, "key"),
        ).from_(_table(source, "p"))
        if keyed:
            assert catalog.record_keys is not None
            select = select.join(
                table_ref(catalog.record_keys, dialect, schema, "rk"),
                on=exp.EQ(this=ref("c0", "rk"), expression=ref("k_id", "p")),
                join_type="LEFT",
            )
        branches.append(select.group_by(ref(bucket, "p")))
    query: exp.Query = branches[0]
    for branch in branches[1:]:
        query = exp.union(query, branch, distinct=False)
    query = (
        query.with_("r", as_=rows, materialized=True)  # type: ignore[attr-defined]
        .with_("mk", as_=merge_keys)
        .with_("pk", as_=people, materialized=True)
        .with_("mo", as_=alone_keys)
        .with_("po", as_=alone_people)
    )
    return DropoffQuery(render(query, dialect), n, keyed=keyed)


def dropoff_from_histogram(rows: list[tuple[object, ...]], filters: int) -> DropoffTotals:
    """The drop-off's cells from the histogram rows of :func:`compile_dropoff`."""
    found: dict[tuple[str, str], dict[int, tuple[int, int]]] = {}
    for kind, level, bucket, count, key in rows:
        found.setdefault((str(kind), str(level)), {})[int(str(bucket))] = (int(str(count)), int(str(key)))

    def cell(kind: str, test: object) -> DropoffCell:
        values = {
            level: [value for bucket, value in found.get((kind, level), {}).items() if test(bucket)]  # type: ignore[operator]
            for level in ("p", "r")
        }
        return DropoffCell(
            participants=sum(c for c, _ in values["p"]),
            rows=sum(c for c, _ in values["r"]),
            participants_key=sum(k for _, k in values["p"]),
            rows_key=sum(k for _, k in values["r"]),
        )

    start = cell("c", lambda b: b > 0)
    remaining = tuple(cell("c", lambda b, i=i: b > i) for i in range(1, filters + 1))
    alone = tuple(cell("a", lambda b, i=i: b == i) for i in range(1, filters + 1))
    return DropoffTotals(start=start, remaining=remaining, removed_alone=alone)
