"""``ingest_csv``: the whole pipeline from an uploaded CSV file to a typed Parquet file with statistics.

Stages (progress label, share of the bar):

1. ``sniff`` (0-10 %): size, archive/binary signatures, encoding, sha256 - one streaming pass over the bytes; a
   declared non-UTF-8 encoding is converted to a UTF-8 scratch copy in the same pass.
2. ``parse`` (10-15 %): the delimiter (detected from the first lines unless given, see
   :mod:`datasets.ingest.delimiters`), the header record (exact names), header checks, a profile of the first
   ``options.sample_rows`` rows (strict CSV parsing + type evidence per column).
3. ``validate`` (15-16 %): at least one data row.
4. ``types`` (16-17 %): a type per column from that evidence (rules in :mod:`datasets.ingest.types`).
5. ``parquet`` (17-80 %): one ``COPY`` to zstd Parquet. When the sample was the whole file the types are final.
   Otherwise every value of every typed column is checked against its type while it is written, so the whole file
   is parsed, validated and typed in this single pass; if a later value does not fit (or a column had no values
   in the sample), the file is profiled completely and written again with the whole-file types. Either way the
   types are exactly what a profile of every row gives.
6. ``validate`` (80-85 %): key checks on the Parquet file (empty ids/sessions, duplicate keys, unknown ids).
7. ``stats`` (85-100 %): column statistics, participants and sessions.

Every file the pipeline creates carries a random token in its name inside ``work_dir``; on any failure (including
an exception raised by the progress callback, which is how a caller cancels) all of them are removed. On success
only the Parquet file remains, and the caller moves it.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import duckdb

from core.column_types import ColumnType
from datasets.ingest.csvparse import parse_error, read_header
from datasets.ingest.delimiters import detect_file_delimiter
from datasets.ingest.duck import DuckSession
from datasets.ingest.errors import (
    EMPTY_COLUMNS,
    HEADER_ONLY,
    MANY_SESSIONS,
    UNKNOWN_IDS,
    IngestError,
    IngestWarning,
    quote_list,
    quoted,
)
from datasets.ingest.options import IngestOptions
from datasets.ingest.parquet import TypeGuessFailed, csv_params, write_parquet
from datasets.ingest.results import ColumnProfile, IngestResult
from datasets.ingest.sniff import scan_source
from datasets.ingest.sql import read_csv_call
from datasets.ingest.stats import column_profiles, distinct_sessions
from datasets.ingest.types import ColumnEvidence, decide_type, profile_rows, profile_sql
from datasets.ingest.validate import check_header, check_keys

ProgressCallback = Callable[[float, str], None]

STAGES: dict[str, tuple[float, float]] = {
    "sniff": (0.0, 0.10),
    "parse": (0.10, 0.15),
    "validate": (0.15, 0.16),
    "types": (0.16, 0.17),
    "parquet": (0.17, 0.80),
    "keys": (0.80, 0.85),
    "stats": (0.85, 1.0),
}


class _Progress:
    """Monotonic 0..1 progress with stage labels; also records seconds per stage."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.value = 0.0
        self.timings: dict[str, float] = {}
        self._started: dict[str, float] = {}

    def report(self, value: float, label: str) -> None:
        value = min(max(value, self.value), 1.0)
        self.value = value
        if self.callback is not None:
            self.callback(value, label)

    def span(self, lo: float, hi: float, label: str) -> Callable[[float], None]:
        """A 0..1 callback mapped onto [lo, hi] of the bar."""

        def within(fraction: float) -> None:
            self.report(lo + (hi - lo) * min(max(fraction, 0.0), 1.0), label)

        return within

    def elapsed(self, label: str) -> float:
        return time.perf_counter() - self._started.get(label, time.perf_counter())

    @contextmanager
    def stage(self, name: str) -> Iterator[Callable[[float], None]]:
        lo, hi = STAGES[name]
        label = "validate" if name == "keys" else name
        self.report(lo, label)
        started = self._started[label] = time.perf_counter()
        try:
            yield self.span(lo, hi, label)
        finally:
            self.timings[label] = self.timings.get(label, 0.0) + time.perf_counter() - started


class _Scratch:
    """Names of every file this run may create in ``work_dir`` (all contain ``token``)."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.token = uuid.uuid4().hex
        self.parquet = work_dir / f"ingest-{self.token}.parquet"
        self.converted = work_dir / f".ingest-{self.token}.utf8.csv"
        self.temp_dir = work_dir / f".ingest-{self.token}.tmp"

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def cleanup(self, *, keep_parquet: bool) -> None:
        for path in self.work_dir.iterdir():
            if self.token not in path.name or (keep_parquet and path == self.parquet):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def ingest_csv(
    source: Path,
    *,
    work_dir: Path,
    options: IngestOptions,
    progress: ProgressCallback | None = None,
) -> IngestResult:
    """Validate ``source``, infer column types, write a Parquet file into ``work_dir`` and profile it.

    Raises :class:`~datasets.ingest.errors.IngestError` for files that are rejected (nothing is left in
    ``work_dir`` then). Anything else raised (I/O errors, exceptions from ``progress``) also cleans up and
    propagates unchanged.
    """
    options = options.validated()
    work_dir.mkdir(parents=True, exist_ok=True)
    scratch = _Scratch(work_dir)
    tracker = _Progress(progress)
    started = time.perf_counter()
    try:
        result = _run(Path(source), scratch, options, tracker)
        tracker.timings["total"] = time.perf_counter() - started
        result.timings = dict(tracker.timings)
        tracker.report(1.0, "done")
    except BaseException:
        scratch.cleanup(keep_parquet=False)
        raise
    scratch.cleanup(keep_parquet=True)
    return result


def _run(source: Path, scratch: _Scratch, options: IngestOptions, tracker: _Progress) -> IngestResult:
    with tracker.stage("sniff") as within:
        sniffed = scan_source(
            source,
            encoding=options.encoding,
            max_bytes=options.max_bytes,
            converted_path=scratch.converted,
            on_progress=within,
        )
    with DuckSession(
        temp_dir=scratch.temp_dir, threads=options.duckdb_threads, memory_limit=options.duckdb_memory_limit
    ) as session:
        csv_path = sniffed.csv_path
        with tracker.stage("parse") as within:
            detected = options.delimiter is None
            delimiter = detect_file_delimiter(csv_path) if options.delimiter is None else options.delimiter
            options = replace(options, delimiter=delimiter)
            header = read_header(
                csv_path,
                delimiter=delimiter,
                max_header_bytes=options.max_header_bytes,
                max_columns=options.max_columns,
            )
            warnings = check_header(header, options)
            evidence, sampled = _profile(session, csv_path, header, options, scratch.token, within, options.sample_rows)
        with tracker.stage("validate"):
            if sampled == 0:
                raise IngestError(
                    HEADER_ONLY,
                    f"The file has column names but no data rows (columns: {quote_list(header, limit=8)}).",
                    {"columns": len(header)},
                )
        with tracker.stage("types"):
            types = _decide(header, evidence, options.string_columns)
        with tracker.stage("parquet"):
            types, row_count = _write(session, csv_path, header, types, evidence, sampled, options, scratch, tracker)
        if sniffed.converted:
            scratch.remove(scratch.converted)
        with tracker.stage("keys"):
            warnings.extend(check_keys(session, scratch.parquet, header, options))
        with tracker.stage("stats") as within:
            profiles = column_profiles(session, scratch.parquet, header, types, row_count, options, within)
            sessions: list[str] = []
            session_count: int | None = None
            if options.session_column:
                sessions, session_count = distinct_sessions(
                    session, scratch.parquet, options.session_column, options.max_sessions_listed
                )
    warnings.extend(_summary_warnings(profiles, row_count, sessions, session_count, options))
    participants = None
    if options.id_column:
        participants = next(p.distinct for p in profiles if p.name == options.id_column)
    unknown = next((w.details.get("count") for w in warnings if w.code == UNKNOWN_IDS), None)
    return IngestResult(
        sha256=sniffed.sha256,
        size_bytes=sniffed.size_bytes,
        row_count=row_count,
        columns=profiles,
        participants=participants,
        sessions=sessions,
        session_count=session_count,
        parquet_path=scratch.parquet,
        encoding=sniffed.encoding,
        delimiter=delimiter,
        delimiter_detected=detected,
        warnings=warnings,
        unknown_id_count=(int(unknown) if unknown is not None else 0) if options.known_ids_parquet else None,
    )


def _write(
    session: DuckSession,
    csv_path: Path,
    header: list[str],
    types: dict[str, ColumnType],
    evidence: dict[str, ColumnEvidence],
    sampled: int,
    options: IngestOptions,
    scratch: _Scratch,
    tracker: _Progress,
) -> tuple[dict[str, ColumnType], int]:
    """Write the Parquet file; return the final types and the row count (see the module docstring)."""
    whole_file = sampled < options.sample_rows
    unseen = [name for name in header if name not in evidence and name not in options.string_columns]
    lo, hi = tracker.value, STAGES["parquet"][1]
    if whole_file or not unseen:
        try:
            rows = write_parquet(
                session,
                csv_path=csv_path,
                header=header,
                types=types,
                options=options,
                target=scratch.parquet,
                verify=not whole_file,
                on_progress=tracker.span(lo, hi, "parquet"),
            )
            return types, rows
        except TypeGuessFailed:
            scratch.remove(scratch.parquet)
            tracker.timings["type_fallback"] = tracker.elapsed("parquet")
    lo = tracker.value
    middle = (lo + hi) / 2
    evidence, _ = _profile(session, csv_path, header, options, scratch.token, tracker.span(lo, middle, "parquet"))
    types = _decide(header, evidence, options.string_columns)
    rows = write_parquet(
        session,
        csv_path=csv_path,
        header=header,
        types=types,
        options=options,
        target=scratch.parquet,
        verify=False,
        on_progress=tracker.span(middle, hi, "parquet"),
    )
    return types, rows


def _summary_warnings(
    profiles: list[ColumnProfile],
    row_count: int,
    sessions: list[str],
    session_count: int | None,
    options: IngestOptions,
) -> list[IngestWarning]:
    warnings = []
    empty = [p.name for p in profiles if p.missing == row_count]
    if empty:
        warnings.append(
            IngestWarning(
                EMPTY_COLUMNS,
                f"{len(empty):,} column{'s have' if len(empty) != 1 else ' has'} no values at all: "
                f"{quote_list(empty)}.",
                {"columns": empty},
            )
        )
    if session_count is not None and session_count > len(sessions):
        warnings.append(
            IngestWarning(
                MANY_SESSIONS,
                f"The session column {quoted(options.session_column or '')} has {session_count:,} different values; "
                f"only the first {len(sessions):,} are listed. Is it really the session column?",
                {"count": session_count},
            )
        )
    return warnings


def _decide(header: list[str], evidence: dict[str, ColumnEvidence], forced: frozenset[str]) -> dict[str, ColumnType]:
    return {name: decide_type(evidence.get(name), force_string=name in forced) for name in header}


def _profile(
    session: DuckSession,
    csv_path: Path,
    header: list[str],
    options: IngestOptions,
    token: str,
    on_progress: Callable[[float], None],
    limit: int | None = None,
) -> tuple[dict[str, ColumnEvidence], int]:
    """Parse rows (strict) and return per-column evidence plus the number of rows seen (all, or ``limit``)."""
    sentinel = f"__ingest_rows_{token}__"
    source = read_csv_call("path", "columns")
    if limit is not None:
        source = f"(SELECT * FROM {source} LIMIT {int(limit)})"  # noqa: S608 - our read_csv call and an int
    sql = profile_sql(source, header, options.string_columns, sentinel)
    params = csv_params(csv_path, dict.fromkeys(header, "VARCHAR"), options)
    try:
        rows = session.fetchall(sql, params, on_progress=on_progress)
    except duckdb.InvalidInputException as exc:
        raise parse_error(exc, max_line_bytes=options.max_line_bytes, delimiter=options.delimiter) from None
    return profile_rows(rows, header, sentinel)
