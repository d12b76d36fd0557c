"""The cells of a dataset version's catalog statistics (for callers below ``query``), computed once and cached.

Per version: the total (every row with a participant id), and per column the rows missing a value, the rows per
value (columns with at most :data:`TABULATE_MAX_DISTINCT` distinct values) and the k-th smallest / largest
per-participant value (ordered columns) — each count with its participants, rows and cell keys, from the version's
Parquet file joined to the record keys of its participant ids (DuckDB; the keys are read from the local key file,
never put into SQL text). The version is immutable, so the cells are cached by its content hash, the key file's
digest and k.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pyarrow.parquet as pq
from django.core.cache import cache
from sqlglot import exp

from access.disclosure import Cell, ColumnCells, VersionCells
from access.record_keys import RecordKeysFile, record_keys_file
from core.parquet_reader import parquet_reader
from datasets.models import DatasetVersion, Study
from datasets.storage import version_cache_path

TABULATE_MAX_DISTINCT = 100  # columns with more distinct values list none below query (each value is rare)
ORDERED = frozenset({"integer", "float", "date", "timestamp"})
COLUMNS_PER_QUERY = 100
CACHE_SECONDS = 30 * 24 * 3600
#: The most values a value search reads (the first in text order among those held by enough participants).
VALUE_CELLS_MAX = 1_000


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(_ident(name), table=_ident(table) if table else None)


def _sum(expression: exp.Expr) -> exp.Expr:
    return exp.func("coalesce", exp.func("sum", expression), exp.Literal.number(0))


def _count_if(condition: exp.Expr) -> exp.Expr:
    return exp.func("count", exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))]))


def _keys_source(keys: RecordKeysFile) -> exp.Expr:
    return (
        exp.select(exp.alias_(_col(keys.id_column), "kid"), exp.alias_(_col(keys.key_column), "k"))
        .from_(exp.func("read_parquet", exp.Placeholder()))
        .subquery(alias="keys")
    )


def _keyed(per: exp.Select, keys: RecordKeysFile) -> exp.Select:
    return (
        exp.select()
        .from_(per.subquery(alias="per"))
        .join(
            _keys_source(keys),
            on=exp.EQ(
                this=exp.cast(_col("kid", "keys"), "VARCHAR"), expression=exp.cast(_col("pid", "per"), "VARCHAR")
            ),
            join_type="LEFT",
        )
    )


def _key() -> exp.Expr:
    return exp.func("coalesce", _col("k", "keys"), exp.Literal.number(0))


def _cell(values: Sequence[Any]) -> Cell:
    participants, rows, pkey, rkey = (int(v or 0) for v in values)
    return Cell(participants=participants, rows=rows, participants_key=pkey, rows_key=rkey)


def _duck_names(con: duckdb.DuckDBPyConnection, path: str) -> dict[str, str]:
    """DuckDB's name of each Parquet column (it renames case-insensitive duplicates), by the file's own name."""
    return dict(zip(pq.read_schema(path).names, con.read_parquet(path).columns, strict=True))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _totals(
    con: duckdb.DuckDBPyConnection,
    path: str,
    keys: RecordKeysFile,
    id_name: str,
    columns: Sequence[tuple[str, str]],
    k: int,
) -> tuple[Cell, dict[str, tuple[Cell, Any, Any]]]:
    """The version's total and, per column: its missing cell and k-th smallest / largest per-participant value."""
    total: Cell | None = None
    found: dict[str, tuple[Cell, Any, Any]] = {}
    for chunk in _chunks(list(columns) or [("", "")], COLUMNS_PER_QUERY):
        chunk = [(name, ctype) for name, ctype in chunk if name]
        per_cols: list[exp.Expr] = [exp.alias_(_col(id_name), "pid"), exp.alias_(exp.func("count", exp.Star()), "n")]
        for i, (name, ctype) in enumerate(chunk):
            per_cols.append(exp.alias_(exp.func("count", _col(name)), f"n{i}"))
            if ctype in ORDERED:
                per_cols.append(exp.alias_(exp.func("min", _col(name)), f"lo{i}"))
                per_cols.append(exp.alias_(exp.func("max", _col(name)), f"hi{i}"))
        per = (
            exp.select(*per_cols)
            .from_(exp.func("read_parquet", exp.Placeholder()))
            .where(exp.Not(this=exp.Is(this=_col(id_name), expression=exp.null())))
            .group_by(_col(id_name))
        )
        n = _col("n", "per")
        outer: list[exp.Expr] = [
            exp.func("count", exp.Star()),
            _sum(n),
            _sum(_key()),
            _sum(exp.Mul(this=_key(), expression=n)),
        ]
        for i, (_, ctype) in enumerate(chunk):
            missing = exp.Sub(this=n, expression=_col(f"n{i}", "per"))
            has_missing = exp.GT(this=missing, expression=exp.Literal.number(0))
            outer += [
                _count_if(has_missing),
                _sum(missing),
                _sum(exp.Case(ifs=[exp.If(this=has_missing, true=_key())])),
                _sum(exp.Mul(this=_key(), expression=missing)),
            ]
            if ctype in ORDERED:
                outer.append(exp.func("min", _col(f"lo{i}", "per"), exp.Literal.number(k)))
                outer.append(exp.func("max", _col(f"hi{i}", "per"), exp.Literal.number(k)))
        sql = _keyed(per, keys).select(*outer).sql(dialect="duckdb", identify=True)
        row = con.execute(sql, [path, str(keys.path)]).fetchone() or ()
        total = total or _cell(row[:4])
        position = 4
        for name, ctype in chunk:
            missing_cell = _cell(row[position : position + 4])
            position += 4
            lower = upper = None
            if ctype in ORDERED:
                smallest, largest = row[position], row[position + 1]
                position += 2
                lower = smallest[k - 1] if smallest and len(smallest) >= k else None
                upper = largest[k - 1] if largest and len(largest) >= k else None
            found[name] = (missing_cell, lower, upper)
    return total or _cell((0, 0, 0, 0)), found


def present_cells(path: str, keys: RecordKeysFile, id_column: str, columns: Sequence[str]) -> dict[str, Cell]:
    """Per column of the Parquet file at ``path``: the cell of its rows holding a value (one scan per
    :data:`COLUMNS_PER_QUERY` columns; a run's final summary below ``query``)."""
    found: dict[str, Cell] = {}
    with parquet_reader() as con:
        names = _duck_names(con, path)
        for chunk in _chunks(list(columns), COLUMNS_PER_QUERY):
            per_cols: list[exp.Expr] = [exp.alias_(_col(names[id_column]), "pid")]
            per_cols += [exp.alias_(exp.func("count", _col(names[name])), f"n{i}") for i, name in enumerate(chunk)]
            per = (
                exp.select(*per_cols)
                .from_(exp.func("read_parquet", exp.Placeholder()))
                .where(exp.Not(this=exp.Is(this=_col(names[id_column]), expression=exp.null())))
                .group_by(_col(names[id_column]))
            )
            outer: list[exp.Expr] = []
            for i in range(len(chunk)):
                n = _col(f"n{i}", "per")
                held = exp.GT(this=n, expression=exp.Literal.number(0))
                outer += [
                    _count_if(held),
                    _sum(n),
                    _sum(exp.Case(ifs=[exp.If(this=held, true=_key())])),
                    _sum(exp.Mul(this=_key(), expression=n)),
                ]
            row = con.execute(
                _keyed(per, keys).select(*outer).sql(dialect="duckdb", identify=True), [path, str(keys.path)]
            ).fetchone()
            values = list(row or ())
            for i, name in enumerate(chunk):
                found[name] = _cell(values[4 * i : 4 * i + 4] or (0, 0, 0, 0))
    return found


def _values(
    con: duckdb.DuckDBPyConnection,
    path: str,
    keys: RecordKeysFile,
    id_name: str,
    column: str,
    search: str = "",
    *,
    min_participants: int = 0,
    limit: int | None = None,
) -> tuple[tuple[Any, Cell], ...]:
    """Per non-missing value of ``column`` (containing ``search`` as text, any case, when given): its cell. Only
    values held by at least ``min_participants`` participants, and at most ``limit`` of them (the first in text
    order), both decided in SQL."""
    per = (
        exp.select(
            exp.alias_(_col(column), "v"),
            exp.alias_(_col(id_name), "pid"),
            exp.alias_(exp.func("count", exp.Star()), "n"),
        )
        .from_(exp.func("read_parquet", exp.Placeholder()))
        .where(exp.Not(this=exp.Is(this=_col(id_name), expression=exp.null())))
        .where(exp.Not(this=exp.Is(this=_col(column), expression=exp.null())))
    )
    params: list[Any] = [path]
    if search:
        text = exp.func("lower", exp.cast(_col(column), "VARCHAR"))
        per = per.where(exp.func("contains", text, exp.func("lower", exp.Placeholder())))
        params.append(search)
    per = per.group_by(_col(column), _col(id_name))
    n = _col("n", "per")
    query = (
        _keyed(per, keys)
        .select(
            _col("v", "per"),
            exp.func("count", exp.Star()),
            _sum(n),
            _sum(_key()),
            _sum(exp.Mul(this=_key(), expression=n)),
        )
        .group_by(_col("v", "per"))
    )
    if min_participants > 1:
        query = query.having(
            exp.GTE(this=exp.func("count", exp.Star()), expression=exp.Literal.number(min_participants))
        )
    if limit is not None:
        query = query.order_by(exp.cast(_col("v", "per"), "VARCHAR"), _col("v", "per")).limit(limit)
    rows = con.execute(query.sql(dialect="duckdb", identify=True), [*params, str(keys.path)]).fetchall()
    return tuple((_json(row[0]), _cell(row[1:])) for row in rows)


def value_cells(
    study: Study,
    version: DatasetVersion,
    column: str,
    *,
    search: str = "",
    min_participants: int = 1,
    limit: int = VALUE_CELLS_MAX,
) -> tuple[tuple[Any, Cell], ...]:
    """Per value of ``column`` in ``version`` containing ``search``: its cell (for the builder's value search).
    Only values held by at least ``min_participants`` participants (the threshold k: a value fewer hold is
    suppressed whatever its perturbation), at most ``limit`` of them, the first in text order."""
    keys = record_keys_file(study, version)
    path = str(version_cache_path(version.parquet_file, version.parquet_sha256))
    with parquet_reader() as con:
        names = _duck_names(con, path)
        return _values(
            con,
            path,
            keys,
            names[study.id_column],
            names[column],
            search,
            min_participants=min_participants,
            limit=limit,
        )


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _to_cache(cells: VersionCells) -> dict[str, Any]:
    return {
        "total": dataclasses.asdict(cells.total),
        "columns": {
            name: {
                "missing": dataclasses.asdict(column.missing),
                "values": None
                if column.values is None
                else [[value, dataclasses.asdict(cell)] for value, cell in column.values],
                "lower": _json(column.lower),
                "upper": _json(column.upper),
            }
            for name, column in cells.columns.items()
        },
    }


def _from_cache(data: dict[str, Any]) -> VersionCells:
    return VersionCells(
        total=Cell(**data["total"]),
        columns={
            name: ColumnCells(
                name=name,
                missing=Cell(**item["missing"]),
                values=None
                if item["values"] is None
                else tuple((value, Cell(**cell)) for value, cell in item["values"]),
                lower=item["lower"],
                upper=item["upper"],
            )
            for name, item in data["columns"].items()
        },
    )


def version_cells(study: Study, version: DatasetVersion, *, threshold: int) -> VersionCells | None:
    """The catalog cells of ``version`` (None when the version has no participant id column)."""
    id_column = study.id_column
    profiles = [column for column in version.columns if column.get("name")]
    if id_column not in {column["name"] for column in profiles}:
        return None
    keys = record_keys_file(study, version)
    wanted = f"bdt:catalog-cells:v1:{version.parquet_sha256}:{keys.digest}:{threshold}"
    cached = cache.get(wanted)
    if isinstance(cached, dict):
        return _from_cache(cached)
    path = str(version_cache_path(version.parquet_file, version.parquet_sha256))
    with parquet_reader() as con:
        names = _duck_names(con, path)
        typed = [(names[str(column["name"])], str(column.get("type", ""))) for column in profiles]
        total, per_column = _totals(con, path, keys, names[id_column], typed, threshold)
        columns: dict[str, ColumnCells] = {}
        for column in profiles:
            name = str(column["name"])
            missing, lower, upper = per_column[names[name]]
            distinct = column.get("distinct")
            tabulate = isinstance(distinct, int) and distinct <= TABULATE_MAX_DISTINCT and name != id_column
            values = _values(con, path, keys, names[id_column], names[name]) if tabulate else None
            columns[name] = ColumnCells(name=name, missing=missing, values=values, lower=lower, upper=upper)
    cells = VersionCells(total=total, columns=columns)
    cache.set(wanted, _to_cache(cells), CACHE_SECONDS)
    return cells
