"""Building blocks shared by the count, rows and wide compilers: the star-join frame, literals, conditions.

Everything is a sqlglot AST; identifiers are always quoted (``identify=True``) and are either fixed synthetic names
(``d0``, ``k_id``, ``c3``, ``__row``, ...) or names taken from the catalog. User values only ever enter as
literals built by sqlglot's expression builders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

from core.column_types import ColumnType
from queries.core.catalog import (
    INDEX_IDS,
    INDEX_PID,
    INDEX_SID,
    INDEX_WIDE,
    ROW_ORDINAL,
    DatasetInfo,
    StoreIndex,
    StudyCatalog,
    physical_column,
    physical_table_name,
    wide_column,
)
from queries.core.spec import ResolvedFilter, ValidatedSpec, Value

Dialect = Literal["duckdb", "postgres", "spark"]
DIALECTS: tuple[Dialect, ...] = ("duckdb", "postgres", "spark")


class CompileError(ValueError):
    """The spec is valid but cannot be compiled as asked (e.g. a wide result that would be too wide)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def validated(spec: ValidatedSpec, catalog: StudyCatalog) -> ValidatedSpec:
    """``spec`` itself, checked: the compiler and the engines take a spec validated against ``catalog``
    (:func:`~queries.core.spec.spec_validate`, once, by the caller) and never validate again."""
    if not isinstance(spec, ValidatedSpec) or (spec.catalog is not catalog and spec.catalog != catalog):
        raise TypeError("The compiler takes a spec validated against this catalog (spec_validate).")
    return spec


def check_dialect(dialect: str) -> Dialect:
    for known in DIALECTS:
        if dialect == known:
            return known
    raise ValueError(f"unsupported dialect {dialect!r}")


def render(expression: exp.Expr, dialect: Dialect) -> str:
    return expression.sql(dialect=dialect, identify=True)


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def ref(name: str, table: str | None = None) -> exp.Column:
    return exp.column(ident(name), table=ident(table) if table else None)


def alias(expression: exp.Expr, name: str) -> exp.Expr:
    return exp.alias_(expression, ident(name))


def table_ref(dataset: DatasetInfo, dialect: Dialect, schema: str | None, alias_name: str) -> exp.Table:
    """DuckDB and Spark: the per-version view the engine registers; PostgreSQL: the loaded version table (in
    ``schema``)."""
    name = dataset.pg_table or physical_table_name(dataset) if dialect == "postgres" else physical_table_name(dataset)
    db = ident(schema) if dialect == "postgres" and schema else None
    return exp.Table(this=ident(name), db=db, alias=exp.TableAlias(this=ident(alias_name)))


def index_table(index: str, name: str, alias_name: str) -> exp.Table:
    """A table of the participant index store attached (DuckDB) as database ``index``."""
    return exp.Table(
        this=ident(name), db=ident("main"), catalog=ident(index), alias=exp.TableAlias(this=ident(alias_name))
    )


def record_keys_join(
    select: exp.Select, catalog: StudyCatalog, dialect: Dialect, schema: str | None, index: StoreIndex | None
) -> exp.Select:
    """``select`` (from ``p``, one row per participant or merge key, ``k_id``) joined to the record keys (the
    cell-key method). With the participant index, ``k_id`` is the ``pid``: the engine's table of the store's record
    keys by ``pid`` when it has one (``index.record_keys``), else its id from the index's dictionary, so the record
    key is looked up by the same participant id text as without it."""
    keys = catalog.record_keys
    assert keys is not None
    participant: exp.Expr = ref("k_id", "p")
    if index is not None and index.record_keys is not None:  # every pid has a row there: the inner join keeps all
        by_pid = exp.Table(this=ident(index.record_keys), alias=exp.TableAlias(this=ident("rk")))
        return select.join(by_pid, on=exp.EQ(this=ref(INDEX_PID, "rk"), expression=participant), join_type="INNER")
    if index is not None:
        select = select.join(
            index_table(index.name, INDEX_IDS, "ix"),
            on=exp.EQ(this=ref(INDEX_PID, "ix"), expression=participant),
            join_type="LEFT",
        )
        participant = ref("id", "ix")
    return select.join(
        table_ref(keys, dialect, schema, "rk"),
        on=exp.EQ(this=ref("c0", "rk"), expression=participant),
        join_type="LEFT",
    )


_TYPES: dict[ColumnType, exp.DType] = {
    "float": exp.DataType.Type.DOUBLE,
    "date": exp.DataType.Type.DATE,
    "timestamp": exp.DataType.Type.TIMESTAMP,
}


def literal(value: Value) -> exp.Expr:
    """A typed SQL literal for one coerced value (see ``queries.core.spec.coerce_value``)."""
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(str(value))
    if isinstance(value, float):
        return exp.cast(exp.Literal.number(repr(value)), _TYPES["float"])
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), _TYPES["timestamp"])
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), _TYPES["date"])
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise TypeError(f"unsupported literal {type(value).__name__}")


def sort_key(expression: exp.Expr, ctype: ColumnType, dialect: Dialect) -> exp.Expr:
    """Byte-order string sorting on PostgreSQL (``COLLATE "C"``), matching DuckDB's default binary collation."""
    if dialect == "postgres" and ctype == "string":
        return exp.Collate(this=expression, expression=ident("C"))
    return expression


def ascending(expression: exp.Expr) -> exp.Ordered:
    """Ascending with NULLs last on every engine (Spark's default puts them first; DuckDB's and PostgreSQL's
    default already is NULLS LAST, so their SQL is unchanged)."""
    return exp.Ordered(this=expression, nulls_first=False)


def and_all(conditions: Iterable[exp.Expr]) -> exp.Expr | None:
    items = list(conditions)
    return exp.and_(*items) if items else None


def filter_condition(f: ResolvedFilter, column: exp.Expr) -> exp.Expr:
    values = [literal(v) for v in f.values]
    match f.op:
        case "is_null":
            return exp.Is(this=column, expression=exp.Null())
        case "not_null":
            return exp.Not(this=exp.Is(this=column, expression=exp.Null()))
        case "between":
            return exp.Between(this=column, low=values[0], high=values[1])
        case "in":
            return exp.In(this=column, expressions=values)
        case "not_in":
            return exp.Not(this=exp.In(this=column, expressions=values))
    ops: dict[str, type[exp.Binary]] = {"eq": exp.EQ, "ne": exp.NEQ, "gt": exp.GT, "gte": exp.GTE, "lt": exp.LT}
    return ops.get(f.op, exp.LTE)(this=column, expression=values[0])


SITE_SEPARATOR_CLASS = r"""[ \t\r\n,;{}\x5B\x5D"']"""


def site_condition(column: exp.Expr, ctype: ColumnType, sites: Sequence[str]) -> exp.Expr:
    """Whole-token, case-sensitive match of any of ``sites`` in a multi-valued cell.

    Tokens are maximal runs of characters outside ``SITE_SEPARATORS`` (whitespace, ``,`` ``;`` ``{`` ``}`` ``[``
    ``]`` and both quotes): the cell's separators are replaced by spaces and the padded cell is searched for
    `` <site> ``. NULL cells never match. Site names never contain separators (the validator rejects them), and no
    pattern syntax (LIKE/regex) is involved, so site text is inert.
    """
    text = column if ctype == "string" else exp.cast(column, exp.DataType.Type.TEXT)
    # A fixed character class (never user text) replacing every separator with a space: several times faster
    # than TRANSLATE in DuckDB; the same class in RE2 (DuckDB) and PostgreSQL's ARE.
    # sqlglot renders the global flag ('g') for both dialects.
    cleaned = exp.func("REGEXP_REPLACE", text, exp.Literal.string(SITE_SEPARATOR_CLASS), exp.Literal.string(" "))
    padded = exp.DPipe(
        this=exp.DPipe(this=exp.Literal.string(" "), expression=cleaned), expression=exp.Literal.string(" ")
    )
    matches = [
        exp.GT(this=exp.StrPosition(this=padded, substr=exp.Literal.string(f" {s} ")), expression=exp.Literal.number(0))
        for s in sites
    ]
    return exp.or_(*matches) if len(matches) > 1 else matches[0]


@dataclass(frozen=True)
class Condition:
    kind: Literal["site", "session", "participants", "filter"]
    expression: exp.Expr
    filter: ResolvedFilter | None = None


class Frame:
    """``FROM demographics AS d0 LEFT JOIN <dataset> AS d1 ON <merge key> ...`` for a chosen set of datasets.

    Each joined dataset is joined exactly once, directly to the demographics table (never to each other), on the id
    (and the session, when both sides have it in a longitudinal study).

    With ``index`` (DuckDB only: the participant index store of the catalog's version set, as attached), the tables
    are the store's, joined on its integer ``pid`` (and ``sid``), which pair exactly the rows the id (and session)
    join pairs; :meth:`key_id` / :meth:`key_session` are then ``pid`` / ``sid``. When the store is ``wide`` there is
    no join at all: its pre-joined table is the demographics LEFT JOINed to every dataset once (each has at most one
    row per merge key), so every dataset's columns are columns of ``d0``. Its rows, projected on the datasets a
    query joins, are exactly the rows the query's own joins produce (a dataset left out joins one row or none and
    a NULL row), so every condition and distinct count is the same.
    """

    def __init__(
        self,
        vspec: ValidatedSpec,
        dialect: Dialect,
        schema: str | None,
        joined: Sequence[str],
        index: StoreIndex | None = None,
    ) -> None:
        self.vspec = vspec
        self.catalog = vspec.catalog
        self.dialect = dialect
        self.schema = schema
        self.index = index if dialect == "duckdb" else None
        self.aliases: dict[str, str] = {self.catalog.demographics: "d0"}
        for name in joined:
            if name not in self.aliases:
                self.aliases[name] = f"d{len(self.aliases)}"

    @property
    def wide(self) -> bool:
        """Whether the frame reads the store's pre-joined table (no joins)."""
        return self.index is not None and self.index.wide

    def col(self, dataset: str, column: str) -> exp.Column:
        ds = self.catalog.datasets[dataset]
        if self.wide:
            return ref(wide_column(ds, physical_column(ds, column)), "d0")
        return ref(physical_column(ds, column), self.aliases[dataset])

    def ctype(self, dataset: str, column: str) -> ColumnType:
        return self.catalog.datasets[dataset].type_of(column)

    def ordinals(self) -> list[exp.Column]:
        if self.wide:
            raise ValueError("the store's pre-joined table has no row ordinals")
        return [ref(ROW_ORDINAL, a) for a in self.aliases.values()]

    def id(self) -> exp.Column:
        return self.col(self.catalog.demographics, self.catalog.keys.id_column)

    def session(self) -> exp.Column | None:
        s = self.catalog.keys.session_column
        return None if s is None else self.col(self.catalog.demographics, s)

    def key_id(self) -> exp.Column:
        """What counts group participants by: the id, or its ``pid`` with the index."""
        return ref(INDEX_PID, "d0") if self.index is not None else self.id()

    def key_session(self) -> exp.Column | None:
        """What counts group sessions by (None when cross-sectional): the session, or its ``sid`` with the index."""
        if self.catalog.keys.session_column is None:
            return None
        return ref(INDEX_SID, "d0") if self.index is not None else self.session()

    def table(self, name: str, alias_name: str) -> exp.Table:
        ds = self.catalog.datasets[name]
        if self.index is not None:
            return index_table(self.index.name, physical_table_name(ds), alias_name)
        return table_ref(ds, self.dialect, self.schema, alias_name)

    def key_type(self, role: Literal["id", "session"]) -> ColumnType:
        name = self.catalog.keys.id_column if role == "id" else self.catalog.keys.session_column
        return self.ctype(self.catalog.demographics, name or "")

    def _join_on(self, name: str) -> exp.Expr:
        if self.index is not None:
            other = self.aliases[name]
            codes = [exp.EQ(this=ref(INDEX_PID, "d0"), expression=ref(INDEX_PID, other))]
            if self.catalog.joins_on_session(name):
                codes.append(exp.EQ(this=ref(INDEX_SID, "d0"), expression=ref(INDEX_SID, other)))
            return exp.and_(*codes)
        keys = [self.catalog.keys.id_column]
        if self.catalog.joins_on_session(name):
            keys.append(self.catalog.keys.session_column or "")
        parts = []
        for key in keys:
            left: exp.Expr = self.col(self.catalog.demographics, key)
            right: exp.Expr = self.col(name, key)
            if self.ctype(self.catalog.demographics, key) != self.ctype(name, key):
                left = exp.cast(left, exp.DataType.Type.TEXT)
                right = exp.cast(right, exp.DataType.Type.TEXT)
            parts.append(exp.EQ(this=left, expression=right))
        return exp.and_(*parts)

    def attach(self, select: exp.Select) -> exp.Select:
        """Add FROM + LEFT JOINs to ``select`` (FROM the pre-joined table alone when the store is wide)."""
        if self.index is not None and self.wide:
            return select.from_(index_table(self.index.name, INDEX_WIDE, "d0"))
        select = select.from_(self.table(self.catalog.demographics, "d0"))
        for name, a in self.aliases.items():
            if a == "d0":
                continue
            select = select.join(self.table(name, a), on=self._join_on(name), join_type="LEFT")
        return select

    def conditions(self) -> list[Condition]:
        """Site -> session -> participants -> each filter in order (the filtering-report order)."""
        v, keys, out = self.vspec, self.catalog.keys, []
        if v.sites and keys.site_column:
            col = self.col(self.catalog.demographics, keys.site_column)
            out.append(
                Condition("site", site_condition(col, self.ctype(self.catalog.demographics, keys.site_column), v.sites))
            )
        session = self.session()
        if v.sessions and session is not None:
            out.append(Condition("session", exp.In(this=session, expressions=[literal(s) for s in v.sessions])))
        if v.participants:
            out.append(
                Condition("participants", exp.In(this=self.id(), expressions=[literal(p) for p in v.participants]))
            )
        for f in v.filters:
            out.append(Condition("filter", filter_condition(f, self.col(f.dataset, f.column)), f))
        return out

    def where(self, select: exp.Select, conditions: Sequence[Condition]) -> exp.Select:
        """Rows with a NULL participant id are never part of a result."""
        parts: list[exp.Expr] = [exp.Not(this=exp.Is(this=self.key_id(), expression=exp.Null()))]
        parts += [c.expression for c in conditions]
        combined = and_all(parts)
        return select.where(combined) if combined is not None else select
