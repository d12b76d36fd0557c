"""Shared engine logic: compile, guard with timeout/cancel, run the two-phase wide flow, write Parquet atomically.

Concrete engines supply a handful of primitives (register/load datasets, fetch rows, write a Parquet file,
interrupt, classify an exception). Timeout: a watchdog timer per operation interrupts the backend when the
operation's wall-clock budget is spent (PostgreSQL additionally gets ``statement_timeout``). Cancel: sets a flag and
interrupts the backend; it applies to the operation in progress or, if there is none, to the next one.

Row cap: if more than ``max_rows`` rows come back, the file is deleted and :class:`RowLimitExceeded` is raised —
results are never silently truncated. Engines that stream rows (PostgreSQL) compile ``LIMIT max_rows + 1`` and stop
early; DuckDB writes the whole result with one ``COPY`` and the returned row count is checked (a ``LIMIT`` under the
result's ``ORDER BY`` made every run about 1.6x slower, docs/performance-history.md §4-§5 R1).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from sqlglot import exp

from core.column_types import ColumnType
from queries.core.catalog import DatasetInfo, StoreIndex, StudyCatalog
from queries.core.compiler import (
    CompileError,
    Dialect,
    compile_count,
    compile_steps,
    compile_wide_discovery,
    output_columns,
    plan_wide,
    rows_query,
    steps_from_histogram,
    validated,
)
from queries.core.compiler.dropoff import DropoffCell, compile_dropoff, dropoff_from_row
from queries.core.compiler.wide import WidePlan
from queries.core.engines.contract import (
    CountResult,
    DropoffCount,
    DropoffResult,
    EngineCancelled,
    EngineError,
    EngineTimeout,
    ResultTooLarge,
    RowLimitExceeded,
    RunResult,
    StepCount,
)
from queries.core.spec import Shape, ValidatedSpec

logger = logging.getLogger(__name__)
Interruption = Literal["interrupt", "timeout"]


class SqlEngine(ABC):
    dialect: ClassVar[Dialect]
    schema: str | None = None
    #: Whether runs compile ``LIMIT max_rows + 1`` (engines that can stop early) or count the rows written.
    limit_rows_in_sql: ClassVar[bool] = True

    def __init__(
        self,
        *,
        timeout_s: float | None,
        max_rows: int | None,
        max_wide_columns: int | None,
        max_cells: int | None = None,
    ) -> None:
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if max_rows is not None and max_rows < 0:
            raise ValueError("max_rows must be >= 0")
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_wide_columns = max_wide_columns
        self.max_cells = max_cells
        self._operation_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._running = False
        self._cancel_requested = False
        self._timed_out = False

    # --- primitives -----------------------------------------------------------------------------------------
    @abstractmethod
    def _prepare(self, catalog: StudyCatalog, datasets: Sequence[DatasetInfo]) -> None:
        """Make every dataset queryable under its physical name (views / loaded tables)."""

    @abstractmethod
    def _fetch_all(self, sql: str) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _write_parquet(
        self, sql: str, names: Sequence[str], types: Sequence[ColumnType], path: Path, max_rows: int | None
    ) -> int:
        """Write the result of ``sql`` to ``path``; return the row count (may stop early past ``max_rows``)."""

    def _write_query(
        self, query: exp.Select, names: Sequence[str], types: Sequence[ColumnType], path: Path, max_rows: int | None
    ) -> int:
        """Write the result of ``query`` (a compiled tree, ours to consume) to ``path``: rendered for
        :meth:`_write_parquet` unless the engine wraps the tree itself."""
        sql = query.sql(dialect=self.dialect, identify=True, copy=False)
        return self._write_parquet(sql, names, types, path, max_rows)

    def _write_wide(
        self, v: ValidatedSpec, catalog: StudyCatalog, plan: WidePlan, participants: int, path: Path, limit: int | None
    ) -> int:
        """Write a wide result; engines may split the work (DuckDB computes very wide results in column groups)."""
        query = rows_query(v, catalog, self.dialect, "wide", plan=plan, limit=limit, schema=self.schema)
        return self._write_query(query, plan.names, plan.types, path, self.max_rows)

    @abstractmethod
    def _interrupt(self) -> None:
        """Stop the statement running on the backend (called from another thread)."""

    @abstractmethod
    def _classify(self, exc: BaseException) -> Interruption | None:
        """Whether ``exc`` is the backend's 'interrupted' (or server-side timeout) error."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the backend connection."""

    def _known_error(self, exc: BaseException) -> EngineError | None:
        """A more specific user-safe error for a backend exception (e.g. out of memory), if there is one."""
        return None

    # --- guard ----------------------------------------------------------------------------------------------
    def cancel(self) -> None:
        with self._state_lock:
            self._cancel_requested = True
            if self._running:
                self._interrupt()

    def _on_timeout(self) -> None:
        with self._state_lock:
            if self._running:
                self._timed_out = True
                self._interrupt()

    def _checkpoint(self) -> None:
        """Raise if the operation was cancelled or timed out between two statements."""
        with self._state_lock:
            if self._cancel_requested:
                self._cancel_requested = False
                raise EngineCancelled()
            if self._timed_out:
                raise EngineTimeout()

    @contextlib.contextmanager
    def _operation(
        self, catalog: StudyCatalog, datasets: Sequence[DatasetInfo], *, compiling: float = 0.0
    ) -> Iterator[None]:
        """One guarded operation: datasets are prepared first (cancellable, but outside the time budget, so a
        large first-time load is never killed by the query timeout), then the timer starts. ``compiling``: the
        seconds already spent compiling the statement, taken from the budget (past it: :class:`EngineTimeout`)."""
        with self._operation_lock:
            with self._state_lock:
                self._timed_out = False
                self._running = True
            self._checkpoint_or_reset()
            timer = None
            try:
                self._prepare(catalog, datasets)
                self._checkpoint()
                if self.timeout_s:
                    left = self.timeout_s - compiling
                    if left <= 0:
                        raise EngineTimeout()
                    timer = threading.Timer(left, self._on_timeout)
                    timer.daemon = True
                    timer.start()
                yield
                self._checkpoint()
            except (EngineError, CompileError):
                raise
            except Exception as exc:
                raise self._translate(exc) from exc
            finally:
                if timer is not None:
                    timer.cancel()
                with self._state_lock:
                    self._running = False

    def _checkpoint_or_reset(self) -> None:
        try:
            self._checkpoint()
        except EngineError:
            with self._state_lock:
                self._running = False
            raise

    def _translate(self, exc: Exception) -> EngineError:
        kind = self._classify(exc)
        with self._state_lock:
            cancelled, self._cancel_requested = self._cancel_requested, False
            timed_out = self._timed_out
        if cancelled and kind == "interrupt":
            return EngineCancelled()
        if kind == "timeout" or (kind == "interrupt" and timed_out):
            return EngineTimeout()
        if kind == "interrupt":
            return EngineCancelled()
        known = self._known_error(exc)
        if known is not None:
            return known
        logger.warning("%s engine error: %s: %s", self.dialect, type(exc).__name__, exc)
        return EngineError()

    # --- operations -----------------------------------------------------------------------------------------
    def _datasets(self, catalog: StudyCatalog, names: Sequence[str]) -> list[DatasetInfo]:
        return [catalog.demo, *(catalog.datasets[n] for n in names)]

    def _counted_datasets(
        self, catalog: StudyCatalog, names: Sequence[str], index: StoreIndex | None = None
    ) -> list[DatasetInfo]:
        """What a count reads: the demographics, the filtered datasets and the record keys (if any); with the
        participant index store (``index``) only the record keys come from their own file."""
        keys = [catalog.record_keys] if catalog.record_keys is not None else []
        return keys if index is not None else [*self._datasets(catalog, names), *keys]

    def _index(self, catalog: StudyCatalog, needed: Sequence[str] = ()) -> StoreIndex | None:
        """The participant index store a statement over the demographics and the ``needed`` datasets of
        ``catalog`` reads, for engines that keep one (DuckDB); held for this engine until :meth:`_index_release`."""
        return None

    def _index_release(self, index: StoreIndex | None) -> None:
        """The statement that read ``index`` is done (it may now be let go of)."""
        return None

    @contextlib.contextmanager
    def _reading_index(self, catalog: StudyCatalog, needed: Sequence[str] = ()) -> Iterator[StoreIndex | None]:
        """The store an operation over the ``needed`` datasets reads, held until the operation is over (another
        thread's newer version set never detaches it under a running statement)."""
        index = self._index(catalog, needed)
        try:
            yield index
        finally:
            self._index_release(index)

    def count(self, spec: ValidatedSpec, catalog: StudyCatalog) -> CountResult:
        v = validated(spec, catalog)
        with self._reading_index(catalog, v.filter_datasets) as index:
            started = time.monotonic()
            sql = compile_count(v, catalog, self.dialect, schema=self.schema, index=index)
            counted = self._counted_datasets(catalog, v.filter_datasets, index)
            with self._operation(catalog, counted, compiling=time.monotonic() - started):
                row = self._fetch_all(sql)[0]
        if catalog.record_keys is None:
            return CountResult(int(row[0]), int(row[1]))
        return CountResult(int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    def steps(self, spec: ValidatedSpec, catalog: StudyCatalog) -> list[StepCount]:
        v = validated(spec, catalog)
        with self._reading_index(catalog, v.filter_datasets) as index:
            started = time.monotonic()
            query = compile_steps(v, catalog, self.dialect, schema=self.schema, index=index)
            counted = self._counted_datasets(catalog, v.filter_datasets, index)
            with self._operation(catalog, counted, compiling=time.monotonic() - started):
                histogram = self._fetch_all(query.sql)
        totals = steps_from_histogram(histogram, len(query.steps) - 1)
        return [
            StepCount(
                s.step,
                s.type,
                s.description,
                t.participants,
                t.rows,
                t.participants_key if query.keyed else None,
                t.rows_key if query.keyed else None,
            )
            for s, t in zip(query.steps, totals, strict=True)
        ]

    def dropoff(self, spec: ValidatedSpec, catalog: StudyCatalog) -> DropoffResult:
        """The count with, per filter, who remains after it and who it removes alone (one pass, see
        :mod:`queries.core.compiler.dropoff`)."""
        v = validated(spec, catalog)
        with self._reading_index(catalog, v.filter_datasets) as index:
            started = time.monotonic()
            query = compile_dropoff(v, catalog, self.dialect, schema=self.schema, index=index)
            counted = self._counted_datasets(catalog, v.filter_datasets, index)
            with self._operation(catalog, counted, compiling=time.monotonic() - started):
                row = self._fetch_all(query.sql)[0]
        totals = dropoff_from_row(row, query.filters, query.keyed)

        def result(cell: DropoffCell) -> CountResult:
            if not query.keyed:
                return CountResult(cell.participants, cell.rows)
            return CountResult(cell.participants, cell.rows, cell.participants_key, cell.rows_key)

        return DropoffResult(
            start=result(totals.start),
            filters=tuple(
                DropoffCount(i, result(remaining), result(alone))
                for i, (remaining, alone) in enumerate(zip(totals.remaining, totals.removed_alone, strict=True))
            ),
            total=result(totals.count),
        )

    def run(
        self,
        spec: ValidatedSpec,
        catalog: StudyCatalog,
        out_path: str | os.PathLike[str],
        *,
        shape: Shape | None = None,
    ) -> RunResult:
        """Write the result rows to ``out_path`` (Parquet, atomically replaced; nothing is left on failure)."""
        v = validated(spec, catalog)
        shape = shape or v.shape
        limit = None if self.max_rows is None or not self.limit_rows_in_sql else self.max_rows + 1
        out = Path(out_path)
        tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.part")
        try:
            with self._operation(catalog, self._datasets(catalog, v.joined)):
                if shape == "wide" and catalog.longitudinal:
                    discovery = compile_wide_discovery(v, catalog, self.dialect, schema=self.schema)
                    sessions = [r[0] for r in self._fetch_all(discovery.sessions_sql)]
                    self._checkpoint()
                    maxima: Sequence[int | None] = ()
                    participants = 0
                    if discovery.variability_sql is not None:
                        *maxima, counted = self._fetch_all(discovery.variability_sql)[0]
                        participants = int(counted or 0)
                        self._checkpoint()
                    plan = plan_wide(v, catalog, sessions, maxima, max_columns=self.max_wide_columns)
                    names, types = plan.names, plan.types
                    if self.max_cells is not None and participants * len(names) > self.max_cells:
                        raise ResultTooLarge(participants, len(names), self.max_cells)
                    n = self._write_wide(v, catalog, plan, participants, tmp, limit)
                else:
                    cols = output_columns(v, catalog)
                    names, types = tuple(c.name for c in cols), tuple(c.type for c in cols)
                    query = rows_query(v, catalog, self.dialect, "long", limit=limit, schema=self.schema)
                    n = self._write_query(query, names, types, tmp, self.max_rows)
                if self.max_rows is not None and n > self.max_rows:
                    raise RowLimitExceeded(self.max_rows)
            os.replace(tmp, out)
        except CompileError as exc:
            raise EngineError(exc.message, code=exc.code) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return RunResult(n, tuple(names), tuple(types), "wide" if shape == "wide" and catalog.longitudinal else "long")
