"""The participant index store: one DuckDB file per study version set, built once, read by every count.

A count over Parquet views joins and groups on the participant id text at every call. The store does that work
once per **version set** (the pinned versions of every dataset of a study catalog):

- ``ids``: the dictionary of the demographics version's distinct participant ids (``id``, typed as the catalog
  says, exactly the values the joins compare) with a dense integer ``pid``;
- ``sessions`` (longitudinal studies): the demographics' distinct sessions with a dense integer ``sid``;
- one native table per pinned version, named :func:`~queries.core.catalog.physical_table_name`, with the
  engine's positional columns (``c0..cn``, ``__row``) plus ``pid`` and ``sid``: the row's id (and session) looked
  up in the dictionaries with the same equality the joins use (typed, or as text when the two tables' key types
  differ), so joining on ``pid``/``sid`` pairs exactly the rows the id/session join pairs;
- when every dataset has at most one row per merge key (and the columns are not too many), one pre-joined table
  ``wide`` instead of the per-version tables: each demographics row with ``pid``, ``sid`` and every dataset's
  row of the same merge key LEFT JOINed once (columns named by :func:`~queries.core.catalog.wide_column`), so a
  count is a scan with no join at all (the frame's docstring says why the semantics are the same);
- ``manifest`` (each version's name, number, content hash and table) and ``meta`` (the set's digest, its layout
  ``wide`` or ``tables``, whether the wide table has one row per merge key, the number of participant ids and the
  key columns).

The file is named by :func:`store_digest` (the content hashes of the versions it holds, their columns and the key
columns), written to a temporary name and renamed into place (concurrent builders of one set each write their own
file; the rename is atomic, so a reader sees a whole file or none), and never changed afterwards: a newer version
set is another file, and a store answers only for the exact set it was built from (the engine checks the manifest).
SQL is built as sqlglot ASTs; file paths go to DuckDB's API (or as a literal of the AST), never into SQL text.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from queries.core.catalog import (
    INDEX_IDS,
    INDEX_PID,
    INDEX_SID,
    INDEX_WIDE,
    ROW_ORDINAL,
    DatasetInfo,
    StudyCatalog,
    physical_column,
    physical_table_name,
    wide_column,
)
from queries.core.engines.duckdb_views import version_relation

logger = logging.getLogger(__name__)

#: Bumped when the layout of a store changes (older files are then never found, and swept by the next build).
STORE_FORMAT = 3
SUFFIX = ".duckdb"
IDS, SESSIONS, MANIFEST, META = INDEX_IDS, "sessions", "manifest", "meta"
PID, SID = INDEX_PID, INDEX_SID
#: The most columns a pre-joined table may have (a study wider than this keeps one table per version).
WIDE_MAX_COLUMNS = 4_000
LAYOUT_WIDE, LAYOUT_TABLES = "wide", "tables"
#: Temporary files of a build that died are removed by later builds after this long.
STALE_PART_SECONDS = 3600.0


@dataclass(frozen=True)
class StoreLocation:
    """Where an engine looks for the stores of one study (``directory``), and what it calls when the store of a
    catalog's version set is missing (``missing``: e.g. queue a build; it must not wait for one)."""

    directory: Path
    missing: Callable[[StudyCatalog], None] | None = None


def keys_signature(catalog: StudyCatalog) -> str:
    """The key columns a store's ``pid`` / ``sid`` were made from, and the demographics dataset."""
    keys = catalog.keys
    return f"{keys.id_column}\x00{keys.session_column or ''}\x00{catalog.demographics}"


def store_digest(catalog: StudyCatalog) -> str:
    """The version set's name: the format, the key columns and every pinned version (name, number, content hash,
    columns with their types), order-independent."""
    parts = [f"format:{STORE_FORMAT}", f"keys:{keys_signature(catalog)}"]
    for name in sorted(catalog.datasets):
        ds = catalog.datasets[name]
        columns = "\x01".join(f"{c.name}\x02{c.type}" for c in ds.columns)
        parts.append(f"{ds.name}\x00{ds.version}\x00{ds.sha256}\x00{columns}")
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def store_files(directory: Path) -> list[Path]:
    """The whole stores in ``directory`` (never a build's partial file), newest first."""
    try:
        found = [p for p in directory.iterdir() if p.name.endswith(SUFFIX) and not p.name.startswith(".")]
    except FileNotFoundError:
        return []
    stamped = []
    for path in found:
        with contextlib.suppress(FileNotFoundError):
            stamped.append((path.stat().st_mtime_ns, path))
    return [path for _, path in sorted(stamped, reverse=True)]


def store_file(directory: Path, catalog: StudyCatalog) -> Path:
    """The store file of ``catalog``'s version set in ``directory`` (it may not exist)."""
    return directory / f"{store_digest(catalog)}{SUFFIX}"


def manifest_rows(catalog: StudyCatalog) -> set[tuple[str, int, str, str]]:
    """What a store of this version set holds: (dataset, version, content hash, table) per pinned version."""
    return {(ds.name, ds.version, ds.sha256, physical_table_name(ds)) for ds in catalog.datasets.values()}


def _id(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _col(name: str, table: str) -> exp.Column:
    return exp.column(_id(name), table=_id(table))


#: The build's scratch database (attached under this name): the per-version tables the store is made from.
WORK = "work"


def _table(name: str, alias: str | None = None, database: str | None = None) -> exp.Table:
    """``[database.main.]name [AS alias]``."""
    return exp.Table(
        this=_id(name),
        db=_id("main") if database else None,
        catalog=_id(database) if database else None,
        alias=exp.TableAlias(this=_id(alias)) if alias else None,
    )


def _sql(expression: exp.Expr) -> str:
    return expression.sql("duckdb", identify=True)


def _equal(left: exp.Expr, right: exp.Expr, same_type: bool) -> exp.Expr:
    """The join's equality (``queries.core.compiler._sql.Frame``): typed, or as text when the key types differ."""
    if not same_type:
        left = exp.cast(left, exp.DataType.Type.TEXT)
        right = exp.cast(right, exp.DataType.Type.TEXT)
    return exp.EQ(this=left, expression=right)


def _dictionary(source: str, column: str, value: str, code: str) -> exp.Create:
    """``CREATE TABLE <code's table> AS SELECT value, ROW_NUMBER() OVER (ORDER BY value) AS code FROM (SELECT
    DISTINCT column FROM source WHERE column IS NOT NULL)``."""
    distinct = (
        exp.select(exp.alias_(_col(column, "v"), _id(value)))
        .distinct()
        .from_(_table(source, "v"))
        .where(exp.Not(this=exp.Is(this=_col(column, "v"), expression=exp.Null())))
    )
    number = exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=[exp.Ordered(this=_col(value, "d"))]))
    select = exp.select(_col(value, "d"), exp.alias_(exp.cast(number, exp.DataType.Type.INT), _id(code))).from_(
        distinct.subquery(alias=_id("d"))
    )
    return exp.Create(this=_table(IDS if code == PID else SESSIONS), kind="TABLE", expression=select)


def _indexed(catalog: StudyCatalog, ds: DatasetInfo, source: str, database: str) -> exp.Create:
    """The version as a native table of ``database`` with ``pid`` and ``sid`` (in no particular order)."""
    demo, keys = catalog.demo, catalog.keys
    id_name = keys.id_column
    select = exp.select(_col(PID, "ix"))
    query = select.from_(_table(source, "v")).join(
        _table(IDS, "ix"),
        on=_equal(
            _col("id", "ix"), _col(physical_column(ds, id_name), "v"), demo.type_of(id_name) == ds.type_of(id_name)
        ),
        join_type="LEFT",
    )
    session = keys.session_column
    if session is not None and catalog.joins_on_session(ds.name):
        query = query.select(_col(SID, "sx")).join(
            _table(SESSIONS, "sx"),
            on=_equal(
                _col("s", "sx"),
                _col(physical_column(ds, session), "v"),
                demo.type_of(session) == ds.type_of(session),
            ),
            join_type="LEFT",
        )
    else:
        query = query.select(exp.alias_(exp.cast(exp.Null(), exp.DataType.Type.INT), _id(SID)))
    query = query.select(exp.Column(this=exp.Star(), table=_id("v")))
    return exp.Create(this=_table(physical_table_name(ds), database=database), kind="TABLE", expression=query)


def store_build(
    directory: Path,
    catalog: StudyCatalog,
    *,
    memory_limit: str,
    threads: int,
    temp_directory: str | os.PathLike[str] | None = None,
    wide: bool = True,
) -> tuple[Path, bool]:
    """Build the store of ``catalog``'s version set in ``directory`` unless it exists; returns (its path, whether
    this call wrote it). Every dataset needs its local ``parquet_path``. Other version sets' stores in the
    directory (older sets of the study) and temporary files of dead builds are removed afterwards. ``wide=False``
    keeps one table per version even where the pre-joined table could be built (the tests compare both layouts)."""
    target = store_file(directory, catalog)
    if target.exists():
        return target, False
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{target.name}.{uuid.uuid4().hex}.part"
    scratch = partial.with_name(partial.name + ".work")
    config: dict[str, Any] = {
        "memory_limit": memory_limit,
        "threads": threads,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if temp_directory is not None:
        config["temp_directory"] = os.fspath(temp_directory)
    try:
        con = duckdb.connect(os.fspath(partial), config=config)
        try:
            con.execute(_attach(scratch, WORK))
            _write(con, catalog, store_digest(catalog), wide=wide)
        finally:
            con.close()
        os.replace(partial, target)
    finally:
        for leftover in (partial, scratch, *(f.with_name(f.name + ".wal") for f in (partial, scratch))):
            leftover.unlink(missing_ok=True)
    stores_sweep(directory, keep=target)
    return target, True


def _attach(path: Path, name: str) -> str:
    attach = exp.Attach(this=exp.alias_(exp.Literal.string(os.fspath(path)), _id(name)), exists=False)
    return _sql(attach)


def _one_row_per(
    con: duckdb.DuckDBPyConnection, table: exp.Table, keys: list[exp.Identifier], present: list[exp.Identifier]
) -> bool:
    """Whether ``table`` has at most one row per value of ``keys`` (NULL a value like any other) among the rows
    where none of ``present`` is NULL."""
    where = [exp.Not(this=exp.Is(this=exp.column(k.copy()), expression=exp.Null())) for k in present]
    repeated = (
        exp.select(*(exp.column(k.copy()) for k in keys))
        .from_(table)
        .where(exp.and_(*where))
        .group_by(*(exp.column(k.copy()) for k in keys))
        .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
        .limit(1)
    )
    return not con.execute(_sql(repeated)).fetchall()


def _one_row_per_key(con: duckdb.DuckDBPyConnection, catalog: StudyCatalog, ds: DatasetInfo) -> bool:
    """Whether ``ds``'s store table has at most one row per key it joins on (rows whose key cannot match are left
    out: a NULL ``pid``, or a NULL ``sid`` where it joins on the session)."""
    keys = [_id(PID)] + ([_id(SID)] if catalog.joins_on_session(ds.name) else [])
    return _one_row_per(con, _table(physical_table_name(ds), database=WORK), keys, keys)


def _aligned(catalog: StudyCatalog, ds: DatasetInfo, number: int) -> exp.Create:
    """``CREATE TABLE work.aligned_<number> AS SELECT dN.<columns> FROM <demographics> d0 LEFT JOIN <dataset> dN ON
    dN.pid = d0.pid [AND dN.sid = d0.sid] ORDER BY d0.__row``: the dataset's row of each demographics row (or NULLs),
    one row per demographics row (the dataset has at most one per merge key), in the demographics' row order."""
    demo = physical_table_name(catalog.demo)
    on = [exp.EQ(this=_col(PID, "dn"), expression=_col(PID, "d0"))]
    if catalog.joins_on_session(ds.name):
        on.append(exp.EQ(this=_col(SID, "dn"), expression=_col(SID, "d0")))
    select = (
        exp.select(*(_col(physical_column(ds, c.name), "dn") for c in ds.columns))
        .from_(_table(demo, "d0", WORK))
        .join(_table(physical_table_name(ds), "dn", WORK), on=exp.and_(*on), join_type="LEFT")
        .order_by(_col(ROW_ORDINAL, "d0"))
    )
    return exp.Create(this=_table(f"aligned_{number}", database=WORK), kind="TABLE", expression=select)


def _wide_table(con: duckdb.DuckDBPyConnection, catalog: StudyCatalog) -> None:
    """The pre-joined table: each demographics row (``pid``, ``sid``, its columns) with every dataset's row of the
    same merge key (LEFT JOIN: NULLs where there is none). One join per statement (a join of every dataset at once
    holds all their hash tables in memory: at 10M participants it does not fit 2 GB), each dataset aligned to the
    demographics' row order, then the aligned tables put side by side (``POSITIONAL JOIN``: no hashing at all)."""
    demo = catalog.demo
    measures = [ds for name, ds in catalog.datasets.items() if name != catalog.demographics]
    for number, ds in enumerate(measures, 1):
        con.execute(_sql(_aligned(catalog, ds, number)))
    ordered = exp.select(exp.Star()).from_(_table(physical_table_name(demo), database=WORK)).order_by(_id(ROW_ORDINAL))
    con.execute(_sql(exp.Create(this=_table("aligned_0", database=WORK), kind="TABLE", expression=ordered)))
    sizes = {}
    for number in range(len(measures) + 1):
        size = exp.select(exp.Count(this=exp.Star())).from_(_table(f"aligned_{number}", database=WORK))
        sizes[number] = con.execute(_sql(size)).fetchall()[0][0]
    if len(set(sizes.values())) != 1:  # side by side by position: every table must have one row per demographics row
        raise RuntimeError(f"participant index store: aligned tables differ in length {sizes}")
    select = exp.select(_col(PID, "d0"), _col(SID, "d0")).from_(_table("aligned_0", "d0", WORK))
    for number, ds in enumerate([demo, *measures]):
        alias = f"d{number}"
        for column in ds.columns:
            physical = physical_column(ds, column.name)
            select = select.select(exp.alias_(_col(physical, alias), _id(wide_column(ds, physical))))
        if number:
            select = select.join(exp.Join(this=_table(f"aligned_{number}", alias, WORK), method="POSITIONAL"))
    con.execute(_sql(exp.Create(this=_table(INDEX_WIDE), kind="TABLE", expression=select)))


def _unique_merge_keys(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the wide table has one row per (``pid``, ``sid``) among rows with a ``pid``."""
    return _one_row_per(con, _table(INDEX_WIDE), [_id(PID), _id(SID)], [_id(PID)])


def _write(con: duckdb.DuckDBPyConnection, catalog: StudyCatalog, digest: str, *, wide: bool) -> None:
    sources: dict[str, str] = {}
    for i, ds in enumerate(catalog.datasets.values()):
        if not ds.parquet_path:
            raise ValueError(f"dataset {ds.name!r} has no local data file")
        sources[ds.name] = f"src_{i}"
        version_relation(con, ds.parquet_path, ds).create_view(sources[ds.name], replace=True)
    demo, keys = catalog.demo, catalog.keys
    demo_source = sources[catalog.demographics]
    con.execute(_sql(_dictionary(demo_source, physical_column(demo, keys.id_column), "id", PID)))
    if keys.session_column is not None:
        con.execute(_sql(_dictionary(demo_source, physical_column(demo, keys.session_column), "s", SID)))
    for ds in catalog.datasets.values():  # into the scratch database: the store keeps them, or the wide table
        con.execute(_sql(_indexed(catalog, ds, sources[ds.name], WORK)))
    for source in sources.values():  # the views name local paths: they never stay in the store
        con.execute(_sql(exp.Drop(tables=[_table(source)], kind="VIEW", exists=True)))
    measures = [ds for ds in catalog.datasets.values() if ds.name != catalog.demographics]
    columns = sum(len(ds.columns) for ds in catalog.datasets.values())
    layout, unique = LAYOUT_TABLES, False
    if wide and columns <= WIDE_MAX_COLUMNS and all(_one_row_per_key(con, catalog, ds) for ds in measures):
        try:
            _wide_table(con, catalog)
            layout, unique = LAYOUT_WIDE, _unique_merge_keys(con)
        except (duckdb.OutOfMemoryException, duckdb.TransactionException) as error:
            # The joins did not fit the build's budget (while they ran, or when their result was committed: DuckDB
            # then reports the failed allocation as a failed commit); the other layout still fits.
            logger.warning(
                "participant index store %s: the pre-joined table did not fit in memory (%s)",
                digest[:12],
                type(error).__name__,
            )
            con.execute(_sql(exp.Drop(tables=[_table(INDEX_WIDE)], kind="TABLE", exists=True)))
    if layout == LAYOUT_TABLES:
        for ds in catalog.datasets.values():
            name = physical_table_name(ds)
            copy = (
                exp.select(exp.Star())
                .from_(_table(name, database=WORK))
                .order_by(exp.Ordered(this=_id(PID), nulls_first=False), exp.Ordered(this=_id(SID), nulls_first=False))
            )
            con.execute(_sql(exp.Create(this=_table(name), kind="TABLE", expression=copy)))
    con.execute(_sql(exp.Detach(this=_id(WORK), exists=True)))
    manifest = exp.select(
        *(exp.alias_(exp.cast(exp.Null(), kind), _id(name)) for name, kind in _MANIFEST_COLUMNS)
    ).where(exp.false())
    con.execute(_sql(exp.Create(this=_table(MANIFEST), kind="TABLE", expression=manifest)))
    rows = sorted(manifest_rows(catalog))
    values = exp.values(
        [tuple(exp.Literal.string(v) if isinstance(v, str) else exp.Literal.number(v) for v in r) for r in rows]
    )
    con.execute(_sql(exp.insert(values, _table(MANIFEST))))
    meta = exp.select(
        exp.alias_(exp.Literal.string(digest), _id("digest")),
        exp.alias_(exp.Literal.string(layout), _id("layout")),
        exp.alias_(exp.Boolean(this=unique), _id("unique_keys")),
        exp.alias_(exp.select(exp.Count(this=exp.Star())).from_(_table(IDS)).subquery(), _id("participants")),
        exp.alias_(exp.Literal.string(keys_signature(catalog)), _id("keys")),
    )
    con.execute(_sql(exp.Create(this=_table(META), kind="TABLE", expression=meta)))
    con.execute("CHECKPOINT")


_MANIFEST_COLUMNS = (
    ("name", exp.DataType.Type.TEXT),
    ("version", exp.DataType.Type.BIGINT),
    ("sha256", exp.DataType.Type.TEXT),
    ("tbl", exp.DataType.Type.TEXT),
)


def stores_sweep(directory: Path, *, keep: Path | None = None, now: float | None = None) -> int:
    """Remove the stores in ``directory`` other than ``keep`` and temporary files older than an hour; returns how
    many files went. (A process that has a removed store attached keeps reading it until it notices.)"""
    removed = 0
    moment = time.time() if now is None else now
    with contextlib.suppress(FileNotFoundError):
        for path in directory.iterdir():
            if path == keep:
                continue
            try:
                if path.name.endswith(SUFFIX) or (
                    path.name.endswith((".part", ".part.wal")) and moment - path.stat().st_mtime > STALE_PART_SECONDS
                ):
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
    return removed
