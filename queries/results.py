"""Reading a run's result: pages of rows, the final data summary, and the filtering report."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from pathlib import Path
from typing import Any

from sqlglot import exp

from core.column_types import NUMERIC_TYPES
from core.config import config_get
from core.errors import ApiError, Conflict, InvalidInput
from core.parquet_reader import TimedReader, timed_reader
from datasets.storage import version_cache_path
from queries.core.engines.contract import EngineError, EngineTimeout, StepCount, report_rows
from queries.core.spec import spec_parse
from queries.execution import engine_create, engine_error_to_api, interactive_estimate_require, query_prepare
from queries.models import QueryRun, RunStatus
from tenants.models import Tenant

#: Values listed in a text column's final summary (and what the summary reads of its distinct values).
SUMMARY_TOP_VALUES = 5
_SUMMARY_LISTED_UP_TO = 10


def run_result_path(run: QueryRun) -> Path:
    """A local copy of the run's result (from the worker cache or storage); 409 unless the run succeeded."""
    if run.status != RunStatus.SUCCEEDED or not run.result_file:
        raise Conflict(f"The run has no result: it is {run.status}.", code="run_not_succeeded")
    return version_cache_path(run.result_file, run.result_sha256)


def json_value(value: Any) -> Any:
    """A value as JSON can carry it (dates as ISO text, NaN/inf as null)."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def _select_page(columns: list[str], sort: str | None, descending: bool) -> str:
    query = exp.select("*").from_(exp.func("read_parquet", exp.Placeholder()))
    if sort is not None:
        if sort not in columns:
            raise InvalidInput(f"Cannot sort by {sort!r}: not a column of this result.", code="unknown_column")
        query = query.order_by(exp.Ordered(this=exp.column(sort, quoted=True), desc=descending))
    return query.limit(exp.Placeholder()).offset(exp.Placeholder()).sql(dialect="duckdb")


def result_page(
    run: QueryRun, *, page: int, page_size: int, sort: str | None = None, descending: bool = False
) -> dict[str, Any]:
    """One page of the result's rows (optionally sorted by one column)."""
    path = run_result_path(run)
    sql = _select_page(list(run.columns), sort, descending)
    with timed_reader() as reader:
        rows = reader.fetchall(sql, [str(path), page_size, (page - 1) * page_size])
    return {
        "columns": list(run.columns),
        "items": [[json_value(v) for v in row] for row in rows],
        "page": page,
        "page_size": page_size,
        "total": run.row_count or 0,
    }


def _summary_text_numeric(stats: tuple[Any, ...]) -> str:
    mean, median, std, low, high = stats
    if mean is None:
        return "All values missing"
    return f"Mean: {mean:.2f}, Median: {median:.2f}, Std: {(std or 0):.2f}, Range: [{low:.2f}, {high:.2f}]"


def _summary_text_values(reader: TimedReader, ident: exp.Column, path: str) -> str:
    """A text column's summary: how many distinct values (as text) and the most common ones, counted in SQL (only
    the top values and their number come back to Python, whatever the column holds)."""
    source = exp.func("read_parquet", exp.Placeholder())
    counted = (
        exp.select(exp.cast(ident, "VARCHAR").as_("v"), exp.func("count").as_("n"))
        .from_(source)
        .where(ident.is_(exp.null()).not_())
        .group_by(exp.column("v"))
    )
    distinct = exp.Window(this=exp.func("count"), over="OVER")
    top = reader.fetchall(
        exp.select(exp.column("v"), exp.column("n"), distinct.as_("d"))
        .from_(counted.subquery("c"))
        .order_by(exp.Ordered(this=exp.column("n"), desc=True), exp.column("v"))
        .limit(SUMMARY_TOP_VALUES)
        .sql("duckdb"),
        [path],
    )
    if not top:
        return "All values missing"
    unique = int(top[0][2])
    if unique <= _SUMMARY_LISTED_UP_TO:
        shown = ", ".join(f"{value}: {n}" for value, n, _ in top)
        return f"{unique} unique values - {shown}"
    return f"{unique} unique values, most common: {top[0][0]}"


def final_summary(run: QueryRun, key_columns: set[str]) -> list[dict[str, Any]]:
    """Per output column: type, count, missing, missing %, and a short summary (BDT's final data summary)."""
    path = str(run_result_path(run))
    rows = run.row_count or 0
    data_columns = [(c, t) for c, t in zip(run.columns, run.column_types, strict=False) if c not in key_columns]
    summary: list[dict[str, Any]] = [
        {
            "column": "OVERALL",
            "type": "Summary",
            "count": rows,
            "missing": None,
            "missing_pct": None,
            "summary": f"{rows} rows, {len(data_columns)} data columns",
        }
    ]
    if rows == 0:
        return [
            *summary[:1],
            {"column": "No data", "type": "", "count": 0, "missing": None, "missing_pct": None, "summary": "No data"},
        ]
    with timed_reader() as reader:
        for column, kind in data_columns:
            ident = exp.column(column, quoted=True)
            source = exp.func("read_parquet", exp.Placeholder())
            present = reader.fetchone(exp.select(exp.func("count", ident)).from_(source).sql("duckdb"), [path])
            count = int(present[0]) if present else 0
            missing = rows - count
            if kind in NUMERIC_TYPES:
                cast = exp.cast(ident, "DOUBLE")
                stats = reader.fetchone(
                    exp.select(
                        exp.func("avg", cast),
                        exp.func("median", cast),
                        exp.func("stddev_samp", cast),
                        exp.func("min", cast),
                        exp.func("max", cast),
                    )
                    .from_(source)
                    .sql("duckdb"),
                    [path],
                )
                text = _summary_text_numeric(stats or (None,) * 5)
            else:
                text = _summary_text_values(reader, ident, path)
            summary.append(
                {
                    "column": column,
                    "type": kind,
                    "count": count,
                    "missing": missing,
                    "missing_pct": round(100.0 * missing / rows, 1),
                    "summary": text,
                }
            )
    return summary


def report_from_steps(counted: list[StepCount], *, longitudinal: bool) -> list[dict[str, Any]]:
    """Filtering-report rows from engine step counts: ``after`` counts rows (merge keys) in a longitudinal study,
    participants otherwise; ``participants_after`` always counts participants."""
    rows = report_rows(counted, by="rows" if longitudinal else "participants")
    participants = report_rows(counted, by="participants")
    for row, people in zip(rows, participants, strict=False):
        row["participants_after"] = people["after"]
    return rows


def run_step_counts(run: QueryRun, *, tenant: Tenant, keyed: bool = False) -> list[StepCount]:
    """The step counts of the run's filters on its pinned versions (same code as live counts; ``keyed``: with
    cell keys, for aggregate-only callers)."""
    versions = {pin.dataset_name: pin.version for pin in run.pinned.select_related("version__dataset")}
    prepared = query_prepare(tenant=tenant, study=run.study, spec=spec_parse(run.spec), versions=versions, keyed=keyed)
    # same limits as live reports: estimated first (keyed: an aggregate-only reader, no sizes in a refusal)
    interactive_estimate_require(prepared, "report", aggregate_only=keyed)
    timeout = float(config_get("count_timeout_seconds", tenant))
    engine = engine_create(run.study, timeout_s=timeout)
    try:
        return engine.steps(prepared.validated, prepared.catalog)
    except EngineTimeout as exc:
        raise ApiError(504, "timeout", f"The filtering report took longer than {timeout:g} s and was stopped.") from exc
    except EngineError as exc:
        raise engine_error_to_api(exc) from exc
    finally:
        engine.close()


def filtering_report(run: QueryRun, *, tenant: Tenant) -> list[dict[str, Any]]:
    """The step-by-step attrition of the run's filters on its pinned versions (exact)."""
    return report_from_steps(run_step_counts(run, tenant=tenant), longitudinal=run.study.is_longitudinal)


def sql_identifier(name: str) -> str:
    """A quoted DuckDB identifier (for tests and tools)."""
    return str(exp.to_identifier(name, quoted=True).sql(dialect="duckdb"))
