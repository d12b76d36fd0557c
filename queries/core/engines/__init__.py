"""Data engines (Django-free): DuckDB over Parquet files, PostgreSQL over loaded version tables."""

from queries.core.engines.contract import (
    CountResult,
    DataEngine,
    EngineCancelled,
    EngineError,
    EngineTimeout,
    EngineUnavailable,
    ResourceLimit,
    ResultTooLarge,
    RowLimitExceeded,
    RunResult,
    StepCount,
    report_rows,
)

__all__ = [
    "CountResult",
    "DataEngine",
    "EngineCancelled",
    "EngineError",
    "EngineTimeout",
    "EngineUnavailable",
    "ResourceLimit",
    "ResultTooLarge",
    "RowLimitExceeded",
    "RunResult",
    "StepCount",
    "report_rows",
]
