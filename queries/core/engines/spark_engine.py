"""Spark engine: Spark SQL over the pinned Parquet files (local cache paths or ``s3a://`` object URLs).

One SparkSession per process (:func:`spark_session`), created lazily on first use and reused by every engine of
the process; a forked child never reuses its parent's (it starts its own driver). ``master`` is ``local[N]`` (N =
the process budget's threads) unless a cluster is configured (``spark_master``: ``spark://...`` or
``k8s://...``). The driver's JVM heap (``spark.driver.memory``), the shuffle partitions and the local spill
directory come from the process budget (``core.budgets``); the Spark UI is off.

Each dataset version is registered once per session as a temporary view named ``physical_table_name(dataset)``
(content addressed) with ``c<i>`` = the catalog's i-th column cast to its catalog type and ``__row`` = the row's
0-based position in its Parquet file (Spark's ``_metadata.row_index``). Paths are handed to the DataFrame reader,
never spliced into SQL; file column names are resolved as quoted identifiers.

Every statement of an engine runs in the engine's own job group; ``cancel`` and the timeout watchdog cancel that
group (``cancelJobGroup``), which stops its running tasks. Results stream to the driver partition by partition
(``toLocalIterator``) into a pyarrow ParquetWriter, so the worker holds one partition at a time and the row cap
stops the stream at ``max_rows + 1`` rows; the output column names come from the compiler.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from core.column_types import ColumnType
from queries.core.catalog import ROW_ORDINAL, DatasetInfo, StudyCatalog, physical_table_name
from queries.core.compiler import Dialect
from queries.core.engines.contract import EngineError, EngineUnavailable, ResourceLimit
from queries.core.engines.postgres_engine import ARROW_TYPES
from queries.core.engines.sql_engine import Interruption, SqlEngine

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

SPARK_TYPES: dict[ColumnType, str] = {
    "integer": "bigint",
    "float": "double",
    "string": "string",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp_ntz",  # naive, like the other engines: no session time zone applies
}
#: URL schemes read through Spark's Hadoop file systems (object storage); anything else must be a local file.
REMOTE_SCHEMES = ("s3a://",)
CANCEL_REPEAT_S = 0.25
_GLOB_CHARS = set("*?[]{}")


@dataclass(frozen=True)
class SparkSettings:
    """What the process's SparkSession is created with (the first engine of the process decides)."""

    master: str | None = None  # None: local[threads]
    driver_memory: str = "1g"
    threads: int = 2
    shuffle_partitions: int = 4
    local_dir: str | None = None
    extra: tuple[tuple[str, str], ...] = ()

    def conf(self) -> dict[str, str]:
        conf = {
            "spark.driver.memory": self.driver_memory,
            "spark.sql.shuffle.partitions": str(self.shuffle_partitions),
            "spark.default.parallelism": str(self.shuffle_partitions),
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.timestampType": "TIMESTAMP_NTZ",
            "spark.sql.caseSensitive": "true",  # files may have columns differing only in case
            "spark.sql.ansi.enabled": "true",
            "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
        }
        if self.master is None:
            conf["spark.driver.bindAddress"] = "127.0.0.1"
            conf["spark.driver.host"] = "127.0.0.1"
        if self.local_dir is not None:
            conf["spark.local.dir"] = self.local_dir
        conf.update(dict(self.extra))
        return conf


@dataclass
class _SharedSession:
    spark: SparkSession
    settings: SparkSettings
    pid: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    views: dict[str, tuple[object, ...]] = field(default_factory=dict)


_shared: list[_SharedSession] = []
_shared_lock = threading.Lock()


def _forget_inherited_gateway() -> None:
    """After a fork: drop pyspark's references to the parent's JVM (its socket belongs to the parent)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    SparkContext._gateway = None
    SparkContext._jvm = None
    SparkContext._active_spark_context = None
    SparkSession._instantiatedSession = None
    SparkSession._activeSession = None


def spark_session(settings: SparkSettings) -> _SharedSession:
    """The process's SparkSession (created on first use; a forked child creates its own)."""
    with _shared_lock:
        if _shared and _shared[0].pid == os.getpid():
            return _shared[0]
        if _shared:  # inherited from the parent process: unusable, and never stopped by the child
            _shared.clear()
            _forget_inherited_gateway()
        from pyspark.sql import SparkSession

        master = settings.master or f"local[{settings.threads}]"
        builder = SparkSession.builder.master(master).appName("bdt-query")
        for key, value in settings.conf().items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        shared = _SharedSession(spark, settings, os.getpid())
        _shared.append(shared)
        return shared


def spark_session_stop() -> None:
    """Stop this process's SparkSession (its JVM exits); the next engine starts a new one."""
    with _shared_lock:
        if _shared and _shared[0].pid == os.getpid():
            _shared[0].spark.stop()
        _shared.clear()


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class SparkEngine(SqlEngine):
    dialect: ClassVar[Dialect] = "spark"
    limit_rows_in_sql: ClassVar[bool] = False  # the stream stops at max_rows + 1 (a LIMIT under ORDER BY is a top-K)

    def __init__(
        self,
        settings: SparkSettings | None = None,
        *,
        timeout_s: float | None = None,
        max_rows: int | None = None,
        batch_size: int = 10_000,
        max_wide_columns: int | None = 10_000,
        max_cells: int | None = None,
    ) -> None:
        super().__init__(timeout_s=timeout_s, max_rows=max_rows, max_wide_columns=max_wide_columns, max_cells=max_cells)
        self.settings = settings or SparkSettings()
        self._batch_size = batch_size
        self._group: str | None = None
        self._group_lock = threading.Lock()

    @property
    def _session(self) -> _SharedSession:
        try:
            return spark_session(self.settings)
        except Exception as exc:
            logger.warning("spark session could not start: %s: %s", type(exc).__name__, exc)
            raise EngineUnavailable("The Spark engine is not available right now. Try again shortly.") from exc

    def close(self) -> None:
        """Nothing of the engine's own to release (the process's session stays for the next engine)."""

    # --- guard ----------------------------------------------------------------------------------------------
    def _interrupt(self) -> None:
        """Cancel the statement's job group, its running jobs and those it starts later (each statement has a
        group of its own, so the next statement is not affected). Spark may still submit a job of a cancelled
        statement (an adaptive query's next stage), so the group is cancelled again every
        :data:`CANCEL_REPEAT_S` seconds until the operation has ended."""
        with self._group_lock:
            group = self._group
        if group is None or not _shared or _shared[0].pid != os.getpid():
            return
        context = _shared[0].spark.sparkContext
        context._jsc.sc().cancelJobGroupAndFutureJobs(group)

        def repeat() -> None:
            while True:
                time.sleep(CANCEL_REPEAT_S)
                with self._state_lock:
                    running = self._running
                with self._group_lock:
                    same = self._group == group
                if not (running and same):
                    return
                context.cancelJobGroup(group)

        threading.Thread(target=repeat, name="spark-cancel", daemon=True).start()

    def _classify(self, exc: BaseException) -> Interruption | None:
        # Ours (cancel() or the watchdog) cancelled the job group; Spark reports it as a failed job.
        return "interrupt" if self._cancel_requested or self._timed_out else None

    def _known_error(self, exc: BaseException) -> EngineError | None:
        text = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, MemoryError) or "OutOfMemoryError" in text:
            return ResourceLimit()
        lost = type(exc).__name__ in {"Py4JNetworkError", "ConnectionRefusedError"}
        if lost or "Answer from Java side is empty" in text:
            spark_session_stop_quietly()
            return EngineUnavailable("The Spark engine stopped while the query ran. Try again shortly.")
        return None

    def _new_group(self, shared: _SharedSession) -> None:
        """Put this thread's next jobs in a new job group of this engine (cancelled as one). The group stays set
        on the thread, so every statement, and every dataset registration (reading a file's schema is a job),
        starts a group of its own: a cancelled group cancels its later jobs too."""
        group = f"bdt-{uuid.uuid4().hex}"
        with self._group_lock:
            self._group = group
        shared.spark.sparkContext.setJobGroup(group, "bdt query", interruptOnCancel=True)

    def _start(self) -> SparkSession:
        """The session for one statement, in a new job group; a cancel or timeout that came before the group
        existed is raised here."""
        shared = self._session
        self._new_group(shared)
        self._checkpoint()
        return shared.spark

    # --- datasets -------------------------------------------------------------------------------------------
    def _prepare(self, catalog: StudyCatalog, datasets: Sequence[DatasetInfo]) -> None:
        shared = self._session
        self._new_group(shared)
        for ds in datasets:
            self._register(shared, ds)

    def _source(self, ds: DatasetInfo) -> tuple[object, ...]:
        """What a view is built from: the file (as it is now, for a local file) and the catalog columns."""
        path = ds.parquet_path or ""
        columns = tuple((c.name, c.type) for c in ds.columns)
        if path.startswith(REMOTE_SCHEMES) and not _GLOB_CHARS & set(path):
            return (path, columns)
        try:
            if not path or _GLOB_CHARS & set(path) or "://" in path:
                raise FileNotFoundError(path)
            stat = os.stat(path)
            if not S_ISREG(stat.st_mode):
                raise FileNotFoundError(path)
        except OSError as exc:
            raise EngineError(f"The data file of dataset {ds.name!r} (version {ds.version}) is unavailable.") from exc
        return (path, stat.st_size, stat.st_mtime_ns, columns)

    def _register(self, shared: _SharedSession, ds: DatasetInfo) -> None:
        view = physical_table_name(ds)
        source = self._source(ds)
        if shared.views.get(view) == source:
            return
        with shared.lock:
            if shared.views.get(view) != source:
                self._create_view(shared.spark, view, str(source[0]), ds)
                shared.views[view] = source

    def _create_view(self, spark: SparkSession, view: str, path: str, ds: DatasetInfo) -> None:
        from pyspark.sql import functions

        try:
            frame = spark.read.parquet(path)
            file_names = frame.columns
        except Exception as exc:
            logger.warning("unreadable parquet for %s v%s: %s", ds.name, ds.version, type(exc).__name__)
            raise EngineError(f"The data file of dataset {ds.name!r} (version {ds.version}) is unreadable.") from exc
        columns = []
        for i, col in enumerate(ds.columns):
            if col.name not in file_names:
                raise EngineError(f"The data file of dataset {ds.name!r} does not match its registered columns.")
            columns.append(functions.col(_quoted(col.name)).cast(SPARK_TYPES[col.type]).alias(f"c{i}"))
        columns.append(functions.col("_metadata.row_index").cast("bigint").alias(ROW_ORDINAL))
        frame.select(*columns).createOrReplaceTempView(view)

    # --- queries --------------------------------------------------------------------------------------------
    def _fetch_all(self, sql: str) -> list[tuple[Any, ...]]:
        spark = self._start()
        return [tuple(row) for row in spark.sql(sql).collect()]

    def _write_parquet(
        self, sql: str, names: Sequence[str], types: Sequence[ColumnType], path: Path, max_rows: int | None
    ) -> int:
        spark = self._start()
        schema = pa.schema([pa.field(n, ARROW_TYPES[t]) for n, t in zip(names, types, strict=True)])
        count = 0
        batch: list[tuple[Any, ...]] = []
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:

            def flush() -> None:
                if batch:
                    columns = list(zip(*batch, strict=True))
                    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
                    writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
                    batch.clear()

            for row in spark.sql(sql).toLocalIterator():
                count += 1
                if max_rows is not None and count > max_rows:
                    break
                batch.append(tuple(row))
                if len(batch) >= self._batch_size:
                    flush()
                    self._checkpoint()
            flush()
        return count


def spark_session_stop_quietly() -> None:
    try:
        spark_session_stop()
    except Exception:  # noqa: BLE001 - the JVM is already gone
        with _shared_lock:
            _shared.clear()
