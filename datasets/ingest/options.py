"""What the caller tells the pipeline (:class:`IngestOptions`).

All limits are plain values here; the Django layer fills them from settings / per-tenant configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datasets.ingest.encodings import EncodingRefused, text_encoding
from datasets.ingest.errors import INVALID_OPTIONS, IngestError

MIB = 1024 * 1024


@dataclass(frozen=True)
class IngestOptions:
    """Options of one ingest run.

    Key columns:
        id_column: participant identifier column; required in the file when set. Its values must be non-empty and
            (with ``session_column``) unique unless ``allow_duplicate_keys``. Always typed ``string``.
        session_column: visit/session label column (longitudinal studies); the merge key is then id + session.
        required_columns: further key columns the file must have, as (role, column) pairs, e.g.
            ``(("age", "age_years"),)`` (``missing_key_column`` otherwise).
        composite_column: BDT's derived composite id column (``<id>_<session>``); when the file has it together
            with the id and session columns, every value is checked against them (a warning, never a rejection)
            and it is kept as text.
        text_columns: further columns that must stay ``string`` whatever their values look like (codes, zip codes).
        allow_duplicate_keys: accept repeated keys (reported as a warning instead of ``duplicate_keys``).
        known_ids_parquet: Parquet of the study's demographics version; ids of this file missing there are counted
            (warning ``unknown_ids``). ``known_ids_column`` names the id column in that file (default: id_column).

    Parsing:
        encoding: declared encoding (``"latin-1"``, ``"cp1252"``, ``"utf-16"``...). ``None``/UTF-8 means the file
            must be UTF-8 (a BOM is allowed); anything else is converted to UTF-8 first.
        delimiter: one character, or ``None`` (the default) to detect it among ``,`` ``;`` tab ``|`` from the
            first lines of the file (rules in :mod:`datasets.ingest.delimiters`).
        missing_values: cell texts that mean "missing" besides the empty cell (e.g. ``("NA",)``); default none,
            so every non-empty value is kept as typed.

    Limits:
        max_bytes, max_columns, max_header_bytes (first line), max_line_bytes (one data row).

    Statistics:
        top_values_max_distinct: string/boolean columns with at most this many distinct values get ``top_values``;
        top_values_limit: how many; histogram_bins: bins of the numeric histograms; max_sessions_listed.

    Engine:
        sample_rows: types are guessed from this many first rows and verified on every row while the Parquet file
            is written (one pass over the file); a misfit falls back to a full profile pass (see pipeline).
        row_group_size (>= 100000); compression_level: zstd level 1-22 (3 = DuckDB's default; 1 is about 25 %
            faster to write and about 25 % larger); duckdb_threads, duckdb_memory_limit (e.g. ``"2GB"``).
    """

    id_column: str | None = None
    session_column: str | None = None
    required_columns: tuple[tuple[str, str], ...] = ()
    composite_column: str | None = None
    text_columns: tuple[str, ...] = ()
    allow_duplicate_keys: bool = False
    known_ids_parquet: Path | None = None
    known_ids_column: str | None = None

    encoding: str | None = None
    delimiter: str | None = None
    missing_values: tuple[str, ...] = ()

    max_bytes: int = 1024 * MIB
    max_columns: int = 5000
    max_header_bytes: int = 4 * MIB
    max_line_bytes: int = 8 * MIB

    top_values_max_distinct: int = 50
    top_values_limit: int = 10
    histogram_bins: int = 20
    max_sessions_listed: int = 1000

    sample_rows: int = 50_000
    row_group_size: int = 122_880
    compression_level: int = 3
    duckdb_threads: int | None = None
    duckdb_memory_limit: str | None = None

    def validated(self) -> IngestOptions:
        """Return self, or raise ``IngestError(invalid_options)`` for settings that cannot work."""
        problems: list[str] = []
        if self.delimiter is not None and (len(self.delimiter) != 1 or self.delimiter in {'"', "\n", "\r", "\x00"}):
            problems.append("the delimiter must be one character other than a quote or a line break")
        if self.id_column is not None and not self.id_column.strip():
            problems.append("the id column name is empty")
        if self.session_column is not None and not self.session_column.strip():
            problems.append("the session column name is empty")
        if self.session_column is not None and self.session_column == self.id_column:
            problems.append("the session column cannot be the id column")
        if any(not name.strip() for _, name in self.required_columns):
            problems.append("a required key column name is empty")
        if self.composite_column is not None and self.composite_column in (self.id_column, self.session_column):
            problems.append("the composite id column cannot be the id or session column")
        if self.encoding is not None:
            try:
                text_encoding(self.encoding)
            except EncodingRefused as exc:
                problems.append(exc.message.rstrip("."))
        for name, value, minimum in (
            ("max_bytes", self.max_bytes, 1),
            ("max_columns", self.max_columns, 1),
            ("max_header_bytes", self.max_header_bytes, 1024),
            ("max_line_bytes", self.max_line_bytes, 1024),
            ("row_group_size", self.row_group_size, 100_000),
            ("sample_rows", self.sample_rows, 1),
            ("compression_level", self.compression_level, 1),
            ("histogram_bins", self.histogram_bins, 1),
            ("top_values_limit", self.top_values_limit, 1),
        ):
            if value < minimum:
                problems.append(f"{name} must be at least {minimum}")
        if self.compression_level > 22:
            problems.append("compression_level must be at most 22")
        if problems:
            raise IngestError(INVALID_OPTIONS, "The upload settings are invalid: " + "; ".join(problems) + ".")
        return self

    @property
    def string_columns(self) -> frozenset[str]:
        """Columns that are always typed ``string`` (id, session and text columns)."""
        names = set(self.text_columns)
        if self.id_column:
            names.add(self.id_column)
        if self.session_column:
            names.add(self.session_column)
        if self.composite_column:
            names.add(self.composite_column)
        return frozenset(names)
