"""DuckDB engine: reads the pinned Parquet files directly.

One in-memory DuckDB database per process and configuration (memory limit, threads, temp directory), created
lazily and shared by every engine in the process; each engine works on its own cursor (a separate DuckDB
connection to that database), so ``interrupt`` stops only that engine's statement and web threads never share a
connection. Creating and closing a cursor costs microseconds, where a new database cost tens of milliseconds.

Each dataset version is registered once per database as a view named ``physical_table_name(dataset)`` (content
addressed: name, version, sha256) over ``read_parquet`` (the path is handed to DuckDB's API, never spliced into
SQL) exposing ``c<i>`` = the catalog's i-th column cast to its catalog type, plus ``__row`` = DuckDB's
``file_row_number`` (0-based row in the file). Results are written with ``COPY (query) TO path (FORMAT parquet)``.
Memory limit, threads, the spill directory and its size cap are database settings (constructor arguments, from the
platform's process budget); extensions are never auto-installed or auto-loaded. Wide results wider than one
statement's budget are computed in column groups over long rows materialized once (``queries.core.compiler.wide``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from stat import S_ISREG
from typing import Any, ClassVar

import duckdb
import sqlglot
from sqlglot import exp

from core.column_types import ColumnType
from queries.core.catalog import INDEX_IDS, INDEX_PID, DatasetInfo, StoreIndex, StudyCatalog, physical_table_name
from queries.core.compiler import Dialect, plan_chunks, wide_chunk_size, wide_numbered_query, wide_query
from queries.core.compiler.wide import WidePlan
from queries.core.engines.contract import EngineError, ResourceLimit
from queries.core.engines.duckdb_views import version_relation
from queries.core.engines.participant_store import (
    LAYOUT_WIDE,
    MANIFEST,
    META,
    StoreLocation,
    keys_signature,
    manifest_rows,
    store_file,
    store_files,
)
from queries.core.engines.sql_engine import Interruption, SqlEngine
from queries.core.spec import ValidatedSpec

logger = logging.getLogger(__name__)

_GLOB_CHARS = set("*?[]{}")


@dataclass(frozen=True)
class _Attached:
    """A participant index store attached to a process's database: how counts read it (``index``), the file's
    (inode, mtime) when attached, the versions it holds (its manifest rows), its digest and key columns."""

    index: StoreIndex
    stat: tuple[int, int]
    held: frozenset[tuple[str, int, str, str]]
    digest: str
    keys: str

    def covers(self, wanted: set[tuple[str, int, str, str]], keys: str) -> bool:
        """Whether it holds every one of the ``wanted`` versions, with the same key columns."""
        return keys == self.keys and wanted <= self.held


@dataclass
class _SharedDatabase:
    """A process-wide DuckDB database and the dataset views registered in it."""

    con: duckdb.DuckDBPyConnection
    lock: threading.Lock = field(default_factory=threading.Lock)
    views: dict[str, tuple[object, ...]] = field(default_factory=dict)  # view name -> what it was built from
    # store file -> the store as attached
    stores: dict[str, _Attached] = field(default_factory=dict)
    # attached name -> statements reading it now; names let go of while read (detached when the last one ends)
    reading: dict[str, int] = field(default_factory=dict)
    retired: set[str] = field(default_factory=set)
    # attached name -> tables of its pid with a record-key version's keys (dropped when it is detached)
    keyed: dict[str, set[str]] = field(default_factory=dict)
    # such a table -> the lock of the thread making it (outside the database's lock)
    building: dict[str, threading.Lock] = field(default_factory=dict)


_databases: dict[tuple[int, str, int, str | None, str | None], _SharedDatabase] = {}
_databases_lock = threading.Lock()
_inherited: list[_SharedDatabase] = []  # a parent's databases after fork: unusable, and never closed by the child


def _shared_database(
    memory_limit: str, threads: int, temp_directory: str | None, spill_limit: str | None
) -> _SharedDatabase:
    """The process's database for this configuration (a forked child never reuses its parent's)."""
    key = (os.getpid(), memory_limit, threads, temp_directory, spill_limit)
    with _databases_lock:
        shared = _databases.get(key)
        if shared is None:
            for stale in [k for k in _databases if k[0] != key[0]]:
                _inherited.append(_databases.pop(stale))
            config: dict[str, Any] = {
                "memory_limit": memory_limit,
                "threads": threads,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "preserve_insertion_order": True,
            }
            if temp_directory is not None:
                config["temp_directory"] = temp_directory
            if spill_limit is not None:
                config["max_temp_directory_size"] = spill_limit
            shared = _databases[key] = _SharedDatabase(duckdb.connect(":memory:", config=config))
        return shared


class DuckDBEngine(SqlEngine):
    dialect: ClassVar[Dialect] = "duckdb"
    limit_rows_in_sql: ClassVar[bool] = False  # COPY returns the row count; the cap is checked on it

    def __init__(
        self,
        *,
        memory_limit: str = "1GB",
        threads: int = 2,
        timeout_s: float | None = None,
        max_rows: int | None = None,
        temp_directory: str | os.PathLike[str] | None = None,
        spill_limit: str | None = None,
        max_wide_columns: int | None = 10_000,
        max_cells: int | None = None,
        store: StoreLocation | None = None,
        wide_budget_bytes: int | None = None,
    ) -> None:
        super().__init__(timeout_s=timeout_s, max_rows=max_rows, max_wide_columns=max_wide_columns, max_cells=max_cells)
        temp = None if temp_directory is None else os.fspath(temp_directory)
        self.store = store
        #: The digest of the participant index store the last count, report or drop-off read (None: Parquet).
        self.index_used: str | None = None
        self.memory_bytes = memory_bytes(str(memory_limit))
        # The aggregate states one wide statement may hold (default: half the memory limit); it sets the column groups.
        self.wide_budget_bytes = self.memory_bytes // 2 if wide_budget_bytes is None else int(wide_budget_bytes)
        self.threads = int(threads)
        self._shared = _shared_database(str(memory_limit), self.threads, temp, spill_limit)
        with self._shared.lock:
            self._con = self._shared.con.cursor()

    def close(self) -> None:
        """Close this engine's cursor (the shared database stays open for the next engine)."""
        self._con.close()

    def _interrupt(self) -> None:
        self._con.interrupt()

    def _classify(self, exc: BaseException) -> Interruption | None:
        return "interrupt" if isinstance(exc, duckdb.InterruptException) else None

    def _prepare(self, catalog: StudyCatalog, datasets: Sequence[DatasetInfo]) -> None:
        for ds in datasets:
            self._register(ds)

    def _register(self, ds: DatasetInfo) -> None:
        view = physical_table_name(ds)
        path = ds.parquet_path
        try:
            if not path or _GLOB_CHARS & set(path):
                raise FileNotFoundError(path)
            stat = os.stat(path)
            if not S_ISREG(stat.st_mode):
                raise FileNotFoundError(path)
        except OSError as exc:
            raise EngineError(f"The data file of dataset {ds.name!r} (version {ds.version}) is unavailable.") from exc
        # What the view was built from: the file (as it is now) and the catalog columns it maps.
        source = (path, stat.st_size, stat.st_mtime_ns, tuple((c.name, c.type) for c in ds.columns))
        if self._shared.views.get(view) == source:
            return
        with self._shared.lock:
            if self._shared.views.get(view) != source:
                self._create_view(view, path, ds)
                self._shared.views[view] = source

    def _create_view(self, view: str, path: str, ds: DatasetInfo) -> None:
        version_relation(self._con, path, ds).create_view(view, replace=True)

    def store_index(self, catalog: StudyCatalog) -> StoreIndex | None:
        """The participant index store counts of ``catalog``'s version set read (attached now if it exists and was
        not yet; a missing one is asked for as by a count), or None."""
        with self._reading_index(catalog) as index:
            return index

    def _index(self, catalog: StudyCatalog, needed: Sequence[str] = ()) -> StoreIndex | None:
        """The participant index store a statement over the demographics and the ``needed`` datasets of
        ``catalog`` reads, as attached (held until :meth:`_index_release`), or None (then it reads Parquet).

        The store of ``catalog``'s exact version set when it exists. Otherwise its build is asked for (the
        location's ``missing``) and, meanwhile, the study's newest store is used if it holds the same versions of
        the demographics and the needed datasets and the same key columns: a new version of another dataset does
        not send every count back to Parquet until the rebuild (minutes at millions of participants). What the
        store holds besides is never read: the statement names only the datasets it needs."""
        self.index_used = None
        if self.store is None:
            return None
        if catalog.record_keys is not None:
            self._register(catalog.record_keys)  # the keys by pid are made from it (``_keyed``)
        path = store_file(self.store.directory, catalog)
        found = _stat(path)
        if found is None and self.store.missing is not None:
            try:
                self.store.missing(catalog)
            except Exception:
                logger.exception("could not ask for the participant index store of a version set")
            found = _stat(path)
        with self._shared.lock:
            held = self._held_store(catalog, needed, path, found)
        if held is None or catalog.record_keys is None:
            return held
        try:
            return self._keyed(held, catalog)  # outside the database's lock: other threads' counts go on meanwhile
        except BaseException:
            self._index_release(held)
            raise

    def _held_store(
        self, catalog: StudyCatalog, needed: Sequence[str], path: Path, found: tuple[int, int] | None
    ) -> StoreIndex | None:
        """The store :meth:`_index` reads (``path``, whose (inode, mtime) is ``found``, or the study's newest one
        covering the needed versions), attached and held; under the database's lock."""
        if found is None:
            directory = os.fspath(path.parent)
            for key, held in list(self._shared.stores.items()):  # removed (deleted data) or replaced meanwhile
                if os.path.dirname(key) == directory and _stat(Path(key)) != held.stat:
                    self._detach(key)
            wanted = {row for row in manifest_rows(catalog) if row[0] in {catalog.demographics, *needed}}
            for candidate in store_files(self.store.directory)[:2] if self.store else []:  # newest first
                attached = self._attached(candidate, _stat(candidate))
                if attached is not None and attached.covers(wanted, keys_signature(catalog)):
                    self.index_used = candidate.stem
                    return self._hold(attached.index)
            return None
        attached = self._attached(path, found)
        if attached is None or attached.held != manifest_rows(catalog) or attached.digest != path.stem:
            if attached is not None:
                logger.error("participant index store %s does not hold its version set; not used", path.name)
            return None
        # Stores of the study's other version sets (older versions, deleted data) are let go: their files are
        # removed by the next build or the deletion, and this process must not keep them open.
        for other in [k for k in self._shared.stores if os.path.dirname(k) == os.fspath(path.parent)]:
            if other != os.fspath(path):
                self._detach(other)
        self.index_used = path.stem
        return self._hold(attached.index)

    def _keyed(self, index: StoreIndex, catalog: StudyCatalog) -> StoreIndex:
        """``index`` (held) with the table of its ``pid`` and their record keys when ``catalog`` is keyed: a keyed
        statement then joins the keys on the integer ``pid`` instead of the id text. Made once per store and
        record-key version (0.2-0.3 s at a million participants), outside the database's lock: only the threads
        wanting the same table wait for it. When it cannot be made the statement joins by id as before."""
        keys = catalog.record_keys
        if keys is None:
            return index
        table = f"{index.name}__{physical_table_name(keys)}"
        with self._shared.lock:
            made = table in self._shared.keyed.get(index.name, set())
            building = self._shared.building.setdefault(table, threading.Lock())
        if not made:
            with building:
                with self._shared.lock:
                    made = table in self._shared.keyed.get(index.name, set())
                if not made:
                    try:
                        self._con.execute(_keys_by_pid(index.name, table, physical_table_name(keys)))
                    except duckdb.Error as exc:
                        logger.warning("record keys by pid of store %s could not be made: %s", index.name, exc)
                        return index
                    with self._shared.lock:  # the store is held: it cannot have been detached meanwhile
                        self._shared.keyed.setdefault(index.name, set()).add(table)
        return replace(index, record_keys=table)

    def _attached(self, path: Path, found: tuple[int, int] | None) -> _Attached | None:
        """The store file ``path`` (whose (inode, mtime) is ``found``) attached to the database (under its lock):
        already, or now; None when it is gone or cannot be read."""
        key = os.fspath(path)
        attached = self._shared.stores.get(key)
        if attached is not None and attached.stat == found:
            return attached
        if attached is not None:  # removed (deleted data) or replaced since it was attached
            self._detach(key)
        if found is None:
            return None
        name = f"ps_{path.stem[:24]}_{uuid.uuid4().hex[:8]}"
        try:
            self._con.execute(_attach(path, name))
            attached = _read_attached(self._con, name, found)
        except duckdb.Error as exc:
            logger.warning("participant index store %s could not be attached: %s", path.name, exc)
            with contextlib.suppress(duckdb.Error):
                self._con.execute(_detach(name))
            return None
        self._shared.stores[key] = attached
        return attached

    def _hold(self, index: StoreIndex) -> StoreIndex:
        """Count a statement reading ``index`` (under the database's lock)."""
        self._shared.reading[index.name] = self._shared.reading.get(index.name, 0) + 1
        return index

    def _index_release(self, index: StoreIndex | None) -> None:
        if index is None:
            return
        with self._shared.lock:
            left = self._shared.reading.get(index.name, 1) - 1
            if left > 0:
                self._shared.reading[index.name] = left
                return
            self._shared.reading.pop(index.name, None)
            if index.name in self._shared.retired:
                self._shared.retired.discard(index.name)
                self._detach_name(index.name)

    def _detach(self, key: str) -> None:
        """Let go of the store attached for ``key`` (under the database's lock): detached now, or when the last
        statement reading it ends (another thread may be running one)."""
        index = self._shared.stores.pop(key).index
        if self._shared.reading.get(index.name, 0) > 0:
            self._shared.retired.add(index.name)
        else:
            self._detach_name(index.name)

    def _detach_name(self, name: str) -> None:
        for table in [t for t in self._shared.building if t.startswith(f"{name}__")]:
            self._shared.building.pop(table, None)
        for table in self._shared.keyed.pop(name, set()):
            try:
                drop = exp.Drop(tables=[exp.to_table(table, quoted=True)], kind="TABLE", exists=True)
                self._con.execute(drop.sql("duckdb"))
            except duckdb.Error as exc:
                logger.warning("record keys by pid %s could not be dropped: %s", table, exc)
        try:
            self._con.execute(_detach(name))
        except duckdb.Error as exc:
            logger.warning("participant index store %s could not be detached: %s", name, exc)

    def _known_error(self, exc: BaseException) -> EngineError | None:
        if isinstance(exc, duckdb.OutOfMemoryException | MemoryError):
            return ResourceLimit()
        return None

    def _fetch_all(self, sql: str) -> list[tuple[Any, ...]]:
        return self._con.execute(sql).fetchall()

    def _write_parquet(
        self, sql: str, names: Sequence[str], types: Sequence[ColumnType], path: Path, max_rows: int | None
    ) -> int:
        """Not used by this engine's own flows (they pass trees to :meth:`_write_query`): the SQL is parsed back."""
        return self._copy(sqlglot.parse_one(sql, read="duckdb"), path)

    def _write_query(
        self, query: exp.Select, names: Sequence[str], types: Sequence[ColumnType], path: Path, max_rows: int | None
    ) -> int:
        return self._copy(query, path)

    def _copy(self, query: exp.Expr, path: Path, columns: int | None = None) -> int:
        """``COPY (query) TO path``; results with many ``columns`` get row groups small enough that the writer's
        buffer stays near :data:`ROW_GROUP_CELLS` values."""
        row = self._con.execute(copy_statement(query, path, columns)).fetchone()
        return int(row[0]) if row else 0

    def _write_wide(
        self, v: ValidatedSpec, catalog: StudyCatalog, plan: WidePlan, participants: int, path: Path, limit: int | None
    ) -> int:
        """One statement when the aggregate states fit the wide budget (default: half the memory limit); otherwise the
        long rows are numbered into a scratch Parquet file once, each column group is written from it, and the groups
        are joined back by position (every group has one row per participant, in the same id order)."""
        size = wide_chunk_size(participants, self.wide_budget_bytes, self.threads)
        chunks = plan_chunks(plan, size)
        width = len(plan.names)
        if len(chunks) == 1:
            return self._copy(wide_query(v, catalog, "duckdb", plan, limit=limit), path, width)
        token = uuid.uuid4().hex
        scratch = [path.with_name(f"{path.name}.{token}.{i}.part") for i in range(len(chunks) + 1)]
        views = [f"wide_{token}_{i}" for i in range(len(scratch))]  # per call: the database is shared
        try:
            self._copy(wide_numbered_query(v, catalog), scratch[0])
            self._checkpoint()
            self._con.read_parquet(os.fspath(scratch[0])).create_view(views[0])
            for chunk, part in zip(chunks, scratch[1:], strict=True):
                query = wide_query(v, catalog, "duckdb", chunk, limit=limit, real_names=False, rows_from=views[0])
                self._copy(query, part, len(chunk.names))
                self._checkpoint()
            for view, part in zip(views[1:], scratch[1:], strict=True):
                self._con.read_parquet(os.fspath(part)).create_view(view)
            return self._copy(_positional_join(chunks, views[1:]), path, width)
        finally:
            for view in views:
                drop = exp.Drop(tables=[exp.Table(this=exp.to_identifier(view, quoted=True))], kind="VIEW", exists=True)
                self._con.execute(drop.sql("duckdb"))
            for part in scratch:
                part.unlink(missing_ok=True)


#: DuckDB's default Parquet row group, the smallest we ask for, and the values one row group should buffer.
DEFAULT_ROW_GROUP = 122_880
MIN_ROW_GROUP = 2_048
ROW_GROUP_CELLS = 4_000_000
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b\s*$", re.IGNORECASE)


def copy_statement(query: exp.Expr, path: Path, columns: int | None = None) -> str:
    """``COPY (<query>) TO <path> WITH (FORMAT parquet, COMPRESSION zstd[, ROW_GROUP_SIZE n])``, built as one sqlglot
    tree around the compiled query's (consumed: never copied, wide trees are large); the path is a string literal
    and the options are nodes."""
    params = [
        exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("parquet")),
        exp.CopyParameter(this=exp.var("COMPRESSION"), expression=exp.var("zstd")),
    ]
    if columns:
        size = max(MIN_ROW_GROUP, min(DEFAULT_ROW_GROUP, ROW_GROUP_CELLS // columns))
        params.append(exp.CopyParameter(this=exp.var("ROW_GROUP_SIZE"), expression=exp.Literal.number(size)))
    copy = exp.Copy(
        this=exp.Subquery(this=query), kind=False, files=[exp.Literal.string(os.fspath(path))], params=params
    )
    return copy.sql("duckdb")


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_ino, found.st_mtime_ns) if S_ISREG(found.st_mode) else None


def _attach(path: Path, name: str) -> str:
    attach = exp.Attach(
        this=exp.alias_(exp.Literal.string(os.fspath(path)), exp.to_identifier(name, quoted=True)),
        exists=False,
        expressions=[exp.AttachOption(this=exp.var("READ_ONLY"))],
    )
    return attach.sql("duckdb")


def _detach(name: str) -> str:
    return exp.Detach(this=exp.to_identifier(name, quoted=True), exists=True).sql("duckdb")


def _keys_by_pid(store: str, table: str, keys_view: str) -> str:
    """``CREATE TABLE <table> AS SELECT ix.pid, COALESCE(rk.c1, 0) AS c1 FROM <store>.main.ids ix LEFT JOIN
    <keys_view> rk ON rk.c0 = ix.id``: every participant of the store with its record key (0 where the id has none,
    as the join by id counts it)."""
    ids = exp.Table(
        this=exp.to_identifier(INDEX_IDS, quoted=True),
        db=exp.to_identifier("main", quoted=True),
        catalog=exp.to_identifier(store, quoted=True),
        alias=exp.TableAlias(this=exp.to_identifier("ix")),
    )
    view = exp.Table(this=exp.to_identifier(keys_view, quoted=True), alias=exp.TableAlias(this=exp.to_identifier("rk")))
    key = exp.Coalesce(this=exp.column("c1", "rk", quoted=True), expressions=[exp.Literal.number(0)])
    select = (
        exp.select(exp.column(INDEX_PID, "ix", quoted=True), exp.alias_(key, "c1", quoted=True))
        .from_(ids)
        .join(
            view,
            on=exp.EQ(this=exp.column("c0", "rk", quoted=True), expression=exp.column("id", "ix", quoted=True)),
            join_type="LEFT",
        )
    )
    return exp.Create(this=exp.to_table(table, quoted=True), kind="TABLE", expression=select).sql("duckdb")


def _read_attached(con: duckdb.DuckDBPyConnection, name: str, stat: tuple[int, int]) -> _Attached:
    """What the store attached as ``name`` holds (manifest) and how to read it (meta)."""

    def table(which: str) -> exp.Table:
        return exp.Table(
            this=exp.to_identifier(which, quoted=True),
            db=exp.to_identifier("main", quoted=True),
            catalog=exp.to_identifier(name, quoted=True),
        )

    columns = [exp.column(c, quoted=True) for c in ("name", "version", "sha256", "tbl")]
    rows = con.execute(exp.select(*columns).from_(table(MANIFEST)).sql("duckdb")).fetchall()
    described = [exp.column(c, quoted=True) for c in ("digest", "layout", "unique_keys", "participants", "keys")]
    meta = con.execute(exp.select(*described).from_(table(META)).sql("duckdb")).fetchall()
    if len(meta) != 1:
        raise duckdb.InvalidInputException("the store's meta table has no single row")
    digest, layout, unique, participants, keys = meta[0]
    index = StoreIndex(name, wide=layout == LAYOUT_WIDE, unique_keys=bool(unique), participants=int(participants))
    held = frozenset((str(n), int(v), str(h), str(t)) for n, v, h, t in rows)
    return _Attached(index, stat, held, str(digest), str(keys))


def memory_bytes(text: str) -> int:
    """Bytes of a DuckDB memory setting such as ``3000MB`` or ``2GiB`` (0 when it cannot be read)."""
    match = _MEMORY.match(text)
    if match is None:
        return 0
    number, unit, binary = match.groups()
    return int(float(number) * (1024 if binary else 1000) ** "_kmgt".index(unit.lower() or "_"))


def _positional_join(chunks: Sequence[WidePlan], views: Sequence[str]) -> exp.Select:
    """The column groups (one view each) side by side: ``p0.o0`` is the id; ``p<i>.o<j>`` the j-th column of
    group i."""
    select = [exp.alias_(exp.column("o0", table="p0", quoted=True), chunks[0].id_column.name, quoted=True)]
    for i, chunk in enumerate(chunks):
        for j, column in enumerate(chunk.columns, start=1):
            select.append(exp.alias_(exp.column(f"o{j}", table=f"p{i}", quoted=True), column.name, quoted=True))
    query = exp.select(*select).from_(exp.to_table(views[0]).as_("p0", quoted=True))
    for i in range(1, len(views)):
        query = query.join(exp.Join(this=exp.to_table(views[i]).as_(f"p{i}", quoted=True), method="POSITIONAL"))
    return query
