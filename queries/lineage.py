"""Lineage of runs: reruns (same pinned versions, or the latest ones) and how a rerun's counts differ.

A rerun goes through ``query_run_create`` like every run (same authorization, audit and worker path).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from sqlglot import exp

from core.parquet_reader import parquet_reader
from queries.models import QueryRun, RunStatus
from queries.results import run_result_path
from queries.services import query_run_create
from tenants.models import Tenant


def run_rerun(
    *, tenant: Tenant, actor: Any, run: QueryRun, latest: bool = False, request: HttpRequest | None = None
) -> QueryRun:
    """Run ``run``'s spec again: on exactly its pinned versions, or (``latest``) on the study's current ones."""
    versions = (
        None if latest else {pin.dataset_name: pin.version for pin in run.pinned.select_related("version__dataset")}
    )
    return query_run_create(
        tenant=tenant,
        actor=actor,
        study=run.study,
        payload=run.spec,
        versions=versions,
        rerun_of=run,
        reuse=False,
        request=request,
    )


@dataclass(frozen=True)
class VersionChange:
    """One dataset in a comparison: the version each run read, and that version's size."""

    dataset: str
    before: Any  # QueryRunVersion | None
    after: Any  # QueryRunVersion | None

    @property
    def changed(self) -> bool:
        return (self.before.sha256 if self.before else None) != (self.after.sha256 if self.after else None)


@dataclass
class RunComparison:
    """Two runs of the same spec side by side: per-dataset versions and the result's participants and rows."""

    original: QueryRun
    rerun: QueryRun
    versions: list[VersionChange] = field(default_factory=list)
    participants: tuple[int | None, int | None] = (None, None)
    rows: tuple[int | None, int | None] = (None, None)
    # Aggregate-only callers see protected totals and no exact size of the versions read.
    aggregate_only: bool = False

    @property
    def ready(self) -> bool:
        return self.rerun.is_finished

    @property
    def participants_delta(self) -> int | None:
        before, after = self.participants
        return None if before is None or after is None else after - before

    @property
    def rows_delta(self) -> int | None:
        before, after = self.rows
        return None if before is None or after is None else after - before


def result_participants(run: QueryRun) -> int | None:
    """Distinct participant ids in a succeeded run's result (None when it has no result)."""
    if run.status != RunStatus.SUCCEEDED or run.study.id_column not in (run.columns or []):
        return None
    column = exp.column(run.study.id_column, quoted=True)
    sql = (
        exp.select(exp.Count(this=exp.Distinct(expressions=[column])))
        .from_(exp.func("read_parquet", exp.Placeholder()))
        .sql(dialect="duckdb")
    )
    with parquet_reader() as con:
        row = con.execute(sql, [str(run_result_path(run))]).fetchone()
    return int(row[0]) if row else None


def run_compare(original: QueryRun, rerun: QueryRun) -> RunComparison:
    """How ``rerun`` differs from ``original``: versions per dataset, participants and rows of the results."""
    before = {pin.dataset_name: pin for pin in original.pinned.select_related("version__dataset")}
    after = {pin.dataset_name: pin for pin in rerun.pinned.select_related("version__dataset")}
    comparison = RunComparison(original=original, rerun=rerun)
    comparison.versions = [
        VersionChange(dataset=name, before=before.get(name), after=after.get(name))
        for name in sorted(set(before) | set(after))
    ]
    comparison.participants = (result_participants(original), result_participants(rerun))
    succeeded = RunStatus.SUCCEEDED
    comparison.rows = (
        original.row_count if original.status == succeeded else None,
        rerun.row_count if rerun.status == succeeded else None,
    )
    return comparison
