"""The live drop-off of a count: for each filter, who remains after it (in order) and who it removes on its own.

One statement, one scan of the joined rows, one row of answers. The selections (sites, sessions, participant list)
restrict the rows; the filters are evaluated once per joined row into booleans ``b1..bn`` (a NULL condition does not
hold). From them, per row:

- ``reach`` = 1 + the number of leading filters the row passes (as in the filtering report);
- ``ok`` = 1 when the row passes every filter;
- ``mask`` = the bit of filter ``i`` when ``i`` is the only filter the row fails (BIGINT masks of 62 filters each).

A participant keeps, over all their joined rows (filters on one dataset keep their same-row semantics), the largest
reach, the largest ``ok`` and the OR of the masks. Then one aggregate: who has ``reach > i`` (remains after filter
``i``) and who has ``ok = 0`` with bit ``i`` set (*removed by filter i alone*: no row passes every filter, some row
fails only filter ``i``, so they would be counted without it). The drop-off counts participants; the same pass also
counts the whole spec's distinct merge keys (the count's rows). With record keys each number comes with the sum of
its participants' record keys, so every number of the drop-off is a cell of the disclosure-control method (a
participant cell: its rows are its participants).

On a participant index store whose pre-joined table has one row per merge key (and without record keys), the same
numbers come from one scan without any grouping per participant: each row gets a class (the first filter it does not
pass, and whether it passes every filter after that one), evaluated lazily as a count evaluates its filters; one
grouping by class (at most ``2n + 1`` groups) makes each class's participants a bitmap of their ``pid``; the sets are
then unions of those bitmaps (``BIT_OR``), counted. *Removed by filter i alone* is who passes every filter but ``i``
minus those passing every filter. Past a few filters or list values the class comes from two nested scans that
state each condition once each (the nested ``CASE`` re-states filter ``k`` ``k`` times), so the statement grows
linearly with the spec.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from queries.core.spec import ValidatedSpec

#: Filters per bit mask (a BIGINT holds 62 of them as positive bits).
MASK_BITS = 62
#: The most filters a drop-off counts as participant bitmaps (2 per filter, each ``participants`` bits per thread).
BITMAP_MAX_FILTERS = 32


@dataclass(frozen=True)
class DropoffQuery:
    """The statement and how to read its one row (:func:`dropoff_from_row`)."""

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
    ``removed_alone[i]``: removed by filter i+1 and by no other filter. These are participant counts (their rows are
    the participants); ``count`` is the whole spec's count with its distinct merge keys."""

    start: DropoffCell
    remaining: tuple[DropoffCell, ...]
    removed_alone: tuple[DropoffCell, ...]
    count: DropoffCell  # the whole spec's count with its merge keys (the count's own cell)


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


def _bits(filters: int) -> list[list[int]]:
    """Filter positions (1-based) per mask."""
    positions = list(range(1, filters + 1))
    return [positions[i : i + MASK_BITS] for i in range(0, filters, MASK_BITS)]


def _total(expression: exp.Expr) -> exp.Expr:
    return exp.Coalesce(this=exp.Sum(this=expression), expressions=[_num(0)])


#: Up to these many filters and list values, a row's class is one nested ``CASE`` (:func:`_nested_class`, a few
#: percent faster on small specs, its size ``O(n^2)``); beyond, two scans of the conditions, each stated twice.
NESTED_MAX_FILTERS = 8
NESTED_MAX_VALUES = 1_000
#: The column of the drop-off's inner scan holding the first filter a row does not pass.
FIRST_FAILED = "first_failed"


def _first_failed(filters: list[Condition], at: int = 1) -> exp.Expr:
    """The first filter (1-based, from ``at`` on) a row does not pass, ``n + 1`` when it passes every one. Nested so
    that a condition is evaluated only on the rows that passed every filter before it, as a count's filters are; a
    NULL condition does not hold. Each condition appears once."""
    if at > len(filters):
        return _num(at)
    return _case(filters[at - 1].expression.copy(), _first_failed(filters, at + 1), _num(at))


def _fails_after_first(filters: list[Condition], first: exp.Expr) -> exp.Expr:
    """1 when a row also fails a filter after its first failed one (``first``), 0 if not. Filter ``i`` is evaluated
    only on rows whose first failure is before ``i`` and that passed every filter in between (a row that fails two
    filters is never tested against a third), as in :func:`_first_failed`. Each condition appears once."""
    fails = [
        exp.If(
            this=exp.and_(
                exp.LT(this=first.copy(), expression=_num(at)),
                exp.Not(this=exp.Is(this=exp.Paren(this=c.expression.copy()), expression=exp.true())),
            ),
            true=_num(1),
        )
        for at, c in enumerate(filters, 1)
        if at > 1
    ]
    return exp.Case(ifs=fails, default=_num(0)) if fails else _num(0)


def _nested_class(filters: list[Condition], at: int = 1) -> exp.Expr:
    """The class of a row (see :func:`_classified`) as one nested ``CASE``: each condition is evaluated only on the
    rows still undecided (a row that fails two filters is never tested against a third), as a count's filters are;
    a NULL condition does not hold. Filter ``k`` appears ``k`` times (the filters after a failed one are re-stated),
    so this form is only used while that is small (:data:`NESTED_MAX_FILTERS`, :data:`NESTED_MAX_VALUES`)."""
    n = len(filters)
    if at > n:
        return _num(2 * n + 1)
    rest = exp.and_(*(c.expression.copy() for c in filters[at:])) if at < n else exp.true()
    failed = exp.Case(ifs=[exp.If(this=rest, true=_num(2 * at))], default=_num(2 * at - 1))
    passed = exp.If(this=filters[at - 1].expression.copy(), true=_nested_class(filters, at + 1))
    return exp.Case(ifs=[passed], default=failed)


def _nested_fits(filters: list[Condition]) -> bool:
    """Whether :func:`_nested_class` stays small: few filters, few list values (each re-stated up to ``n`` times)."""
    values = sum(len(c.filter.values) for c in filters if c.filter is not None)
    return len(filters) <= NESTED_MAX_FILTERS and values <= NESTED_MAX_VALUES


def _filtered_columns(frame: Frame, filters: list[Condition]) -> list[exp.Expr]:
    """The participant key and every column the filters read, each once, as named in the wide table."""
    columns = {frame.key_id().name: frame.key_id()}
    for condition in filters:
        for column in condition.expression.find_all(exp.Column):
            columns.setdefault(column.name, column)
    return [alias(column.copy(), name) for name, column in columns.items()]


def _classified(frame: Frame, selections: list[Condition], filters: list[Condition]) -> exp.Select:
    """Per selected row of the wide table, its ``pid`` and its class among ``2n + 1`` (``n`` filters): ``2n + 1``
    when it passes every filter; when filter ``k`` is the first it does not pass, ``2k`` if it passes every filter
    after ``k`` and ``2k - 1`` if not. Two nested scans of the conditions (:func:`_first_failed`, then
    :func:`_fails_after_first` over the first scan's rows, still named ``d0``), so the statement grows linearly with
    the filters while evaluating each condition on the same rows as one nested ``CASE`` would."""
    n = len(filters)
    if _nested_fits(filters):
        nested = exp.select(alias(frame.key_id(), INDEX_PID), alias(_nested_class(filters), "cls"))
        return frame.where(frame.attach(nested), selections)
    scan = frame.where(
        frame.attach(exp.select(*_filtered_columns(frame, filters), alias(_first_failed(filters), FIRST_FAILED))),
        selections,
    )
    first = ref(FIRST_FAILED, "d0")
    failed = exp.Sub(this=exp.Mul(this=_num(2), expression=first.copy()), expression=_fails_after_first(filters, first))
    cls = _case(exp.GT(this=first.copy(), expression=_num(n)), _num(2 * n + 1), failed)
    return exp.select(alias(frame.key_id(), INDEX_PID), alias(cls, "cls")).from_(scan.subquery(alias="d0"))


def _bitmap_dropoff(
    frame: Frame, index: StoreIndex, selections: list[Condition], filters: list[Condition]
) -> exp.Select:
    """The drop-off on a wide store with one row per merge key, as participant bitmaps over one scan of the
    selected rows. Each row gets its class (:func:`_classified`); one grouping by class (at most ``2n + 1`` groups)
    gives each class's participants as one bitmap of their ``pid`` (``BITSTRING_AGG``) and its rows. Then, on
    those few rows: who remains after filter ``i`` (a row of class ``> 2i`` passes the leading ``i`` filters), who
    filter ``i`` removes alone (a row of class ``2i`` or ``2n + 1`` passes every filter but ``i``; minus those with a
    row passing all), and the passing rows (the merge keys: one row each). Same columns as the grouped
    formulation without record keys."""
    n = len(filters)
    top = 2 * n + 1
    rows = _classified(frame, selections, filters)
    bits = exp.Anonymous(
        this="BITSTRING_AGG",
        expressions=[ref(INDEX_PID, "r"), exp.Literal.number(1), exp.Literal.number(index.participants)],
    )
    classes = (
        exp.select(ref("cls", "r"), alias(bits, "b"), alias(exp.Count(this=exp.Star()), "k"))
        .from_(rows.subquery(alias="r"))
        .group_by(ref("cls", "r"))
    )

    def people(condition: exp.Expr) -> exp.Expr:
        union = exp.Filter(this=exp.BitwiseOrAgg(this=ref("b", "g")), expression=exp.Where(this=condition))
        return exp.Coalesce(this=exp.func("BIT_COUNT", union), expressions=[_num(0)])

    def cls_is(*values: int) -> exp.Expr:
        return exp.In(this=ref("cls", "g"), expressions=[_num(v) for v in values])

    columns = [alias(people(exp.GT(this=ref("cls", "g"), expression=_num(2 * i))), f"c{i}") for i in range(n + 1)]
    everyone = people(cls_is(top))
    for i in range(1, n + 1):
        columns.append(alias(exp.Sub(this=people(cls_is(2 * i, top)), expression=everyone.copy()), f"a{i}"))
    passing = exp.Filter(this=exp.Sum(this=ref("k", "g")), expression=exp.Where(this=cls_is(top)))
    columns.append(alias(exp.Coalesce(this=passing, expressions=[_num(0)]), "rows"))
    return exp.select(*columns).from_(classes.subquery(alias="g"))


def compile_dropoff(
    spec: ValidatedSpec,
    catalog: StudyCatalog,
    dialect: Dialect,
    *,
    schema: str | None = None,
    index: StoreIndex | None = None,
) -> DropoffQuery:
    """The drop-off query of ``spec`` (see the module docstring): one row, per level (participants, then merge
    keys), the remaining counts after 0..n filters, then the removed-alone counts of filters 1..n, each followed by
    its key sum when the catalog has record keys."""
    dialect = check_dialect(dialect)
    v = validated(spec, catalog)
    frame = Frame(v, dialect, schema, v.filter_datasets, index)
    conditions = frame.conditions()
    selections = [c for c in conditions if c.kind != "filter"]
    filters = [c for c in conditions if c.kind == "filter"]
    n = len(filters)
    if frame.index is not None and frame.index.bitmaps and catalog.record_keys is None and n <= BITMAP_MAX_FILTERS:
        return DropoffQuery(render(_bitmap_dropoff(frame, frame.index, selections, filters), dialect), n)
    masks = _bits(n)
    session = frame.key_session()
    keys = ["k_id"] + (["k_ses"] if session is not None else [])

    # Per joined row: the merge key and one boolean per filter (each condition once in the statement).
    booleans = [alias(frame.key_id(), "k_id")] + ([alias(session, "k_ses")] if session is not None else [])
    booleans += [
        alias(exp.Coalesce(this=c.expression, expressions=[exp.false()]), f"b{i}") for i, c in enumerate(filters, 1)
    ]
    base = frame.where(frame.attach(exp.select(*booleans)), selections)
    passed = {i: ref(f"b{i}", "b") for i in range(1, n + 1)}
    reach: exp.Expr = (
        exp.Case(ifs=[exp.If(this=exp.Not(this=b), true=_num(i)) for i, b in passed.items()], default=_num(n + 1))
        if n
        else _num(1)
    )
    fails = _sum([_case(b, _num(0), _num(1)) for b in passed.values()])
    ok = _case(exp.EQ(this=fails, expression=_num(0)), _num(1), _num(0))
    row_masks = []
    for m, chunk in enumerate(masks):
        which = exp.Case(
            ifs=[exp.If(this=exp.Not(this=passed[i]), true=_num(1 << (i - chunk[0]))) for i in chunk], default=_num(0)
        )
        single = exp.EQ(this=fails.copy(), expression=_num(1))
        row_masks.append(alias(_case(single, which, _num(0)), f"m{m}"))
    rows = exp.select(*(ref(k, "b") for k in keys), alias(reach, "reach"), alias(ok, "ok"), *row_masks).from_(
        base.subquery(alias="b")
    )

    def bit(m: int, i: int, chunk: list[int], table: str) -> exp.Expr:
        """Whether filter ``i`` (in mask ``m``, whose first filter is ``chunk[0]``) is set in ``table``'s mask."""
        anded = exp.BitwiseAnd(this=ref(f"m{m}", table), expression=_num(1 << (i - chunk[0])))
        return exp.NEQ(this=exp.Paren(this=anded), expression=_num(0))

    # Per participant, over all their joined rows (one grouping): the largest reach, whether a row passes every
    # filter, the OR of the single-failure masks, and how many merge keys pass every filter (the count's rows).
    passing = exp.EQ(this=ref("ok", "s"), expression=_num(1))
    if session is None:
        merge_keys: exp.Expr = exp.Max(this=ref("ok", "s"))
    elif frame.index is not None and frame.index.unique_keys:  # one row per merge key: its passing rows are its keys
        merge_keys = exp.Sum(this=ref("ok", "s"))
    else:
        sessions = exp.Count(this=exp.Distinct(expressions=[_case(passing, ref("k_ses", "s"), exp.Null())]))
        null_session = _case(
            exp.and_(passing.copy(), exp.Is(this=ref("k_ses", "s"), expression=exp.Null())), _num(1), _num(0)
        )
        merge_keys = exp.Add(this=sessions, expression=exp.Max(this=null_session))
    people = (
        exp.select(
            ref("k_id", "s"),
            alias(exp.Max(this=ref("reach", "s")), "reach"),
            alias(exp.Max(this=ref("ok", "s")), "ok"),
            *(alias(exp.BitwiseOrAgg(this=ref(f"m{m}", "s")), f"m{m}") for m in range(len(masks))),
            alias(merge_keys, "nr"),
        )
        .from_(rows.subquery(alias="s"))
        .group_by(ref("k_id", "s"))
    )

    keyed = catalog.record_keys is not None
    columns: list[exp.Expr] = []

    def add(name: str, condition: exp.Expr) -> None:
        columns.append(alias(_total(_case(condition, _num(1), _num(0))), name))
        if keyed:
            columns.append(alias(_total(_case(condition.copy(), _record_key(), _num(0))), f"{name}k"))

    for i in range(n + 1):
        add(f"c{i}", exp.GT(this=ref("reach", "p"), expression=_num(i)))
    for m, chunk in enumerate(masks):
        for i in chunk:
            add(f"a{i}", exp.and_(exp.EQ(this=ref("ok", "p"), expression=_num(0)), bit(m, i, chunk, "p")))
    columns.append(alias(_total(ref("nr", "p")), "rows"))
    if keyed:
        columns.append(alias(_total(exp.Mul(this=ref("nr", "p"), expression=_record_key())), "rowsk"))
    query = exp.select(*columns).from_(people.subquery(alias="p"))
    if keyed:
        query = record_keys_join(query, catalog, dialect, schema, frame.index)
    return DropoffQuery(render(query, dialect), n, keyed=keyed)


def dropoff_from_row(row: tuple[object, ...], filters: int, keyed: bool) -> DropoffTotals:
    """The drop-off's cells from the one row of :func:`compile_dropoff`."""
    width = 2 if keyed else 1
    values = [int(str(value)) if value is not None else 0 for value in row]

    def people(index: int) -> DropoffCell:
        at = index * width
        key = values[at + 1] if keyed else 0
        return DropoffCell(participants=values[at], rows=values[at], participants_key=key, rows_key=key)

    count = people(filters)
    at = (2 * filters + 1) * width
    total = DropoffCell(
        participants=count.participants,
        rows=values[at],
        participants_key=count.participants_key,
        rows_key=values[at + 1] if keyed else 0,
    )
    return DropoffTotals(
        start=people(0),
        remaining=tuple(people(i) for i in range(1, filters + 1)),
        removed_alone=tuple(people(filters + i) for i in range(1, filters + 1)),
        count=total,
    )
