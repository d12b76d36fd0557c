"""What the pipeline returns: :class:`IngestResult` with one :class:`ColumnProfile` per column.

Every value in these dataclasses is JSON-able after :meth:`as_dict` (dates as ISO strings, no NaN/inf).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.column_types import ColumnType
from datasets.ingest.errors import IngestWarning

JsonScalar = str | int | float | bool | None


@dataclass(frozen=True)
class Histogram:
    """Equal-width bins over [min, max]: ``len(edges) == len(counts) + 1``; missing values are not counted."""

    edges: list[float]
    counts: list[int]

    def as_dict(self) -> dict[str, Any]:
        return {"edges": list(self.edges), "counts": list(self.counts)}


@dataclass(frozen=True)
class TopValue:
    value: JsonScalar
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "count": self.count}


@dataclass(frozen=True)
class ColumnProfile:
    """Type and statistics of one column (``position`` is 0-based in the header order)."""

    name: str
    type: ColumnType
    position: int
    missing: int
    distinct: int
    min: JsonScalar = None
    max: JsonScalar = None
    mean: float | None = None
    std: float | None = None
    top_values: list[TopValue] | None = None
    histogram: Histogram | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "position": self.position,
            "missing": self.missing,
            "distinct": self.distinct,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
            "top_values": None if self.top_values is None else [t.as_dict() for t in self.top_values],
            "histogram": None if self.histogram is None else self.histogram.as_dict(),
        }


@dataclass
class IngestResult:
    """A successful ingest.

    ``parquet_path`` is a temporary file inside the caller's ``work_dir``; the caller moves it into storage (or
    deletes it). ``participants`` is the number of distinct ids (None without an id column); ``sessions`` the
    distinct session labels in natural order (FU2 before FU12; empty without a session column, at most
    ``options.max_sessions_listed``). ``timings`` holds seconds per stage plus ``total``. ``delimiter`` is the
    separator the file was read with; ``delimiter_detected`` says whether it was detected (options said auto).
    """

    sha256: str
    size_bytes: int
    row_count: int
    columns: list[ColumnProfile]
    participants: int | None
    sessions: list[str]
    parquet_path: Path
    encoding: str
    warnings: list[IngestWarning] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    unknown_id_count: int | None = None
    session_count: int | None = None
    delimiter: str = ","
    delimiter_detected: bool = False

    @property
    def column_count(self) -> int:
        return len(self.columns)

    @property
    def schema(self) -> list[tuple[str, ColumnType]]:
        """``[(name, type), ...]`` in header order (what :func:`schema_diff` compares)."""
        return [(c.name, c.type) for c in self.columns]

    def column(self, name: str) -> ColumnProfile:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "row_count": self.row_count,
            "column_count": self.column_count,
            "columns": [c.as_dict() for c in self.columns],
            "participants": self.participants,
            "sessions": list(self.sessions),
            "session_count": self.session_count,
            "parquet_path": str(self.parquet_path),
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "delimiter_detected": self.delimiter_detected,
            "warnings": [w.as_dict() for w in self.warnings],
            "timings": dict(self.timings),
            "unknown_id_count": self.unknown_id_count,
        }
