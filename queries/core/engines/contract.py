"""The engine contract: ``DataEngine`` protocol, results and user-safe errors.

Error messages never contain file paths, SQL or database error text; the original exception is chained
(``__cause__``) and logged server-side by the engine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from core.column_types import ColumnType
from queries.core.catalog import StudyCatalog
from queries.core.compiler import Dialect, StepType
from queries.core.spec import Shape, ValidatedSpec


class EngineError(Exception):
    """A query could not be run. ``message`` is safe to show to the user; ``code`` is snake_case; ``retryable``
    errors (a lost database connection) succeed when sent again later."""

    code = "engine_error"
    default_message = "The query could not be run by the data engine."
    retryable = False

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        super().__init__(self.message)


class EngineTimeout(EngineError):
    code = "timeout"
    default_message = "The query took longer than the allowed time and was stopped."


class EngineCancelled(EngineError):
    code = "cancelled"
    default_message = "The query was cancelled."


class EngineUnavailable(EngineError):
    code = "database_unavailable"
    default_message = "The connection to the database was lost while the query ran. Try again shortly."
    retryable = True


class ResourceLimit(EngineError):
    code = "resource_limit"
    default_message = (
        "The query needed more memory than its budget allows and was stopped. Narrow it (fewer columns, sessions "
        "or filters, or a participant list)."
    )


class ResultTooLarge(EngineError):
    code = "too_large"

    def __init__(self, participants: int, columns: int, limit: int) -> None:
        self.participants, self.columns, self.limit = participants, columns, limit
        super().__init__(
            f"The wide result would have {participants:,} participants x {columns:,} columns "
            f"({participants * columns:,} cells), more than the {limit:,} cells allowed. Select fewer columns or "
            "sessions, narrow the participants, or use long format."
        )


class RowLimitExceeded(EngineError):
    code = "row_limit"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"The result has more than {limit} rows, the most allowed; add filters to narrow it.")


@dataclass(frozen=True)
class CountResult:
    participants: int
    rows: int
    participants_key: int | None = None  # cell keys (disclosure control), when the catalog has record keys
    rows_key: int | None = None


@dataclass(frozen=True)
class StepCount:
    step: int
    type: StepType
    description: str
    participants: int
    rows: int
    participants_key: int | None = None
    rows_key: int | None = None


@dataclass(frozen=True)
class DropoffCount:
    """One filter of a count's drop-off: ``filter`` is its 0-based position in the spec's filters; ``remaining``
    counts the participants passing the selections and filters 0..filter, ``removed_alone`` those who fail this
    filter and no other (with cell keys when the catalog has record keys)."""

    filter: int
    remaining: CountResult
    removed_alone: CountResult


@dataclass(frozen=True)
class DropoffResult:
    """A count with its drop-off, from one engine pass: ``start`` = after the selections (sites, sessions,
    participant list), before any filter; ``total`` = the count of the whole spec (participants and merge keys).
    ``start`` and the filters' numbers count participants (their ``rows`` are the participants)."""

    start: CountResult
    filters: tuple[DropoffCount, ...]
    total: CountResult


@dataclass(frozen=True)
class RunResult:
    row_count: int
    columns: tuple[str, ...]
    types: tuple[ColumnType, ...]
    shape: Shape


@runtime_checkable
class DataEngine(Protocol):
    """Runs validated cohort queries on one backend. One operation at a time per engine instance; ``cancel`` may
    be called from any thread and stops the operation in progress (or, if none, the next one)."""

    dialect: Dialect

    def count(self, spec: ValidatedSpec, catalog: StudyCatalog) -> CountResult: ...

    def steps(self, spec: ValidatedSpec, catalog: StudyCatalog) -> list[StepCount]: ...

    def dropoff(self, spec: ValidatedSpec, catalog: StudyCatalog) -> DropoffResult: ...

    def run(
        self,
        spec: ValidatedSpec,
        catalog: StudyCatalog,
        out_path: str | os.PathLike[str],
        *,
        shape: Shape | None = None,
    ) -> RunResult: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


def report_rows(counts: list[StepCount], by: str = "participants") -> list[dict[str, object]]:
    """Filtering-report rows (docs/contract.md ``/report`` steps) from step counts, counting ``participants`` or
    ``rows`` (distinct merge keys, BDT's unit)."""
    out: list[dict[str, object]] = []
    initial = getattr(counts[0], by) if counts else 0
    previous: int | None = None
    for c in counts:
        after = int(getattr(c, by))
        before = previous
        removed = 0 if before is None else before - after
        out.append(
            {
                "step": c.step,
                "type": c.type,
                "description": c.description,
                "before": before,
                "after": after,
                "removed": removed,
                "removed_pct": round(100.0 * removed / before, 2) if before else 0.0,
                "cumulative_pct": round(100.0 * (initial - after) / initial, 2) if initial else 0.0,
            }
        )
        previous = after
    return out
