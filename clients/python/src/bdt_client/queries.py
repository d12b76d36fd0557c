"""Counts, query runs (submit, wait, cancel), result rows as tables, exports, reports, lineage and analyses."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bdt_client.errors import BdtError, RunCancelled, RunFailed
from bdt_client.models import (
    Count,
    ErrorInfo,
    ExportRecord,
    Model,
    PinnedVersion,
    Report,
    convert_with,
    list_of,
    model_of,
    parse_datetime,
)
from bdt_client.polling import Backoff, poll_until
from bdt_client.studies import segment
from bdt_client.tables import arrow_to_pandas, rows_to_arrow
from bdt_client.transport import Download, Transport

if TYPE_CHECKING:
    import pandas
    import pyarrow

ExportFormat = Literal["csv", "parquet", "zip"]
RUN_FINISHED = frozenset({"succeeded", "failed", "cancelled"})
EXPORT_TIMEOUT = 900.0  # the platform writes the whole file before the first byte is sent
MAX_PAGE_SIZE = 1000
SUFFIX_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".zip": "zip"}


def export_format_for(path: Path, format: str | None) -> ExportFormat:
    """The export format: given, or from the file's suffix (.csv, .parquet/.pq, .zip)."""
    chosen = format or {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".zip": "zip"}.get(path.suffix.lower())
    if chosen not in {"csv", "parquet", "zip"}:
        raise BdtError(
            f"Cannot tell the export format of {path.name!r}: name it .csv, .parquet or .zip, or give format=."
        )
    return chosen  # type: ignore[return-value]


@dataclass(frozen=True, kw_only=True)
class RowsPage(Model):
    columns: list[str]
    items: list[list[Any]]
    page: int
    page_size: int
    total: int


@dataclass(frozen=True, kw_only=True)
class Run(Model):
    """A query run. Bound to the client that fetched it, so ``run.wait()``, ``run.to_pandas()`` etc. work."""

    id: int
    status: str
    study: str = ""
    shape: str = "long"
    engine: str = ""
    row_count: int | None = None
    columns: list[str] = field(default_factory=list)
    column_types: list[str] = field(default_factory=list)
    error: ErrorInfo | None = field(default=None, metadata=convert_with(model_of(ErrorInfo)))
    dataset_versions: list[PinnedVersion] = field(default_factory=list, metadata=convert_with(list_of(PinnedVersion)))
    spec: dict[str, Any] = field(default_factory=dict)
    spec_hash: str = ""
    result_sha256: str | None = None
    reused_from: int | None = None
    rerun_of: int | None = None
    created_by: str | None = None
    created_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))
    started_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))
    finished_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))
    _api: QueriesAPI | None = field(default=None, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.status in RUN_FINISHED

    def _bound(self) -> QueriesAPI:
        if self._api is None:
            raise BdtError("This run is not bound to a client: use client.queries.<method>(run.id).")
        return self._api

    def refresh(self) -> Run:
        return self._bound().get(self.id)

    def wait(self, timeout: float | None = None, on_update: Callable[[Run], None] | None = None) -> Run:
        return self._bound().wait(self.id, timeout=timeout, on_update=on_update)

    def cancel(self) -> Run:
        return self._bound().cancel(self.id)

    def rows(self, page: int = 1, page_size: int = 100, **kwargs: Any) -> RowsPage:
        return self._bound().rows(self.id, page=page, page_size=page_size, **kwargs)

    def to_arrow(self, *, purpose: str | None = None) -> pyarrow.Table:
        return self._bound().to_arrow(self.id, purpose=purpose)

    def to_pandas(self, *, purpose: str | None = None) -> pandas.DataFrame:
        return self._bound().to_pandas(self.id, purpose=purpose)

    def export(self, path: str | Path, *, purpose: str, format: ExportFormat | None = None) -> Download:
        return self._bound().export(self.id, path, purpose=purpose, format=format)

    def report(self) -> Report:
        return self._bound().report(self.id)

    def lineage(self) -> Lineage:
        return self._bound().lineage(self.id)

    def rerun(self, *, latest: bool = False) -> Run:
        return self._bound().rerun(self.id, latest=latest)

    def analysis(self, kind: str, **params: Any) -> dict[str, Any]:
        return self._bound().analysis(self.id, kind, **params)


@dataclass(frozen=True, kw_only=True)
class RunRef(Model):
    id: int
    status: str


@dataclass(frozen=True, kw_only=True)
class Lineage(Model):
    """What a run read (pinned versions with sha256), what was exported from it, and its reruns."""

    run: Run = field(metadata=convert_with(model_of(Run)))
    exports: list[ExportRecord] = field(default_factory=list, metadata=convert_with(list_of(ExportRecord)))
    reruns: list[RunRef] = field(default_factory=list, metadata=convert_with(list_of(RunRef)))


class QueriesAPI:
    """Counts and query runs of a study, and everything about a run's result."""

    def __init__(self, transport: Transport, backoff: Backoff | None = None) -> None:
        self._t = transport
        self._backoff = backoff or Backoff()

    def _run(self, data: Mapping[str, Any]) -> Run:
        return Run.from_api(data, _api=self)

    def count(self, study: str, spec: Mapping[str, Any]) -> Count:
        """Distinct participants and merge keys matching a QuerySpec (suppressed for aggregate-only callers)."""
        body = self._t.request("POST", f"/studies/{segment(study)}/count", json=dict(spec), idempotent=True)
        return Count.from_api(body)

    def spec_report(self, study: str, spec: Mapping[str, Any]) -> Report:
        """The filtering report of a QuerySpec without running it (step by step counts)."""
        body = self._t.request("POST", f"/studies/{segment(study)}/report", json=dict(spec), idempotent=True)
        return Report.from_api(body)

    def submit(self, study: str, spec: Mapping[str, Any]) -> Run:
        """Queue a run (202); identical runs on identical versions are joined or reused by the platform."""
        accepted = self._t.request("POST", f"/studies/{segment(study)}/queries", json=dict(spec), idempotent=False)
        return self._run({**accepted, "study": study})

    def run(
        self,
        study: str,
        spec: Mapping[str, Any],
        *,
        wait: bool = True,
        timeout: float | None = None,
        on_update: Callable[[Run], None] | None = None,
    ) -> Run:
        """Submit a run and (by default) wait until it succeeded; raises :class:`RunFailed`/:class:`RunCancelled`."""
        run = self.submit(study, spec)
        return self.wait(run.id, timeout=timeout, on_update=on_update) if wait else run

    def get(self, run_id: int) -> Run:
        return self._run(self._t.request("GET", f"/queries/{int(run_id)}"))

    def wait(self, run_id: int, *, timeout: float | None = None, on_update: Callable[[Run], None] | None = None) -> Run:
        """Poll a run (growing interval) until it ends; :class:`WaitTimeout` after ``timeout`` seconds."""
        run = poll_until(
            lambda: self.get(run_id),
            finished=lambda run: run.finished,
            describe=lambda run: ("run", run.id, run.status),
            timeout=timeout,
            on_update=on_update,
            backoff=self._backoff,
        )
        if run.status == "failed":
            raise RunFailed("run", run.id, run.status, *(_error_parts(run.error)))
        if run.status == "cancelled":
            raise RunCancelled("run", run.id, run.status, *(_error_parts(run.error)))
        return run

    def cancel(self, run_id: int) -> Run:
        """Cancel a run; the answer comes once the engine has stopped (status ``cancelled``)."""
        return self._run(self._t.request("POST", f"/queries/{int(run_id)}/cancel", idempotent=True, timeout=120.0))

    def rerun(self, run_id: int, *, latest: bool = False) -> Run:
        """Run again on exactly the pinned versions (``latest=True``: on the study's current versions)."""
        accepted = self._t.request(
            "POST", f"/queries/{int(run_id)}/rerun", params={"latest": "true" if latest else None}, idempotent=False
        )
        return self._run(accepted)

    def rows(
        self,
        run_id: int,
        *,
        page: int = 1,
        page_size: int = 100,
        sort: str | None = None,
        order: Literal["asc", "desc"] = "asc",
    ) -> RowsPage:
        """One page of result rows (409 ``run_not_ready``-style conflict unless the run succeeded)."""
        params = {"page": page, "page_size": page_size, "sort": sort, "order": order if sort else None}
        return RowsPage.from_api(self._t.request("GET", f"/queries/{int(run_id)}/rows", params=params))

    def iter_rows(self, run_id: int, *, page_size: int = MAX_PAGE_SIZE) -> Iterator[list[Any]]:
        """Every result row, page after page."""
        page = 1
        while True:
            chunk = self.rows(run_id, page=page, page_size=page_size)
            yield from chunk.items
            if not chunk.items or page * page_size >= chunk.total:
                return
            page += 1

    def to_arrow(self, run_id: int, *, purpose: str | None = None) -> pyarrow.Table:
        """The result as a pyarrow Table, typed by the run's column types.

        By default the rows are paged through ``/rows`` (query level). With ``purpose`` the result comes as one
        audited Parquet export instead (export level): much faster for large results.
        """
        if purpose is not None:
            import pyarrow.parquet as pq

            with tempfile.TemporaryDirectory(prefix="bdt-") as folder:
                target = Path(folder) / f"run-{int(run_id)}.parquet"
                self.export(run_id, target, purpose=purpose, format="parquet")
                return pq.read_table(target)
        run = self.get(run_id)
        rows = list(self.iter_rows(run_id))
        return rows_to_arrow(run.columns, run.column_types, rows)

    def to_pandas(self, run_id: int, *, purpose: str | None = None) -> pandas.DataFrame:
        """The result as a pandas DataFrame (see :meth:`to_arrow`)."""
        return arrow_to_pandas(self.to_arrow(run_id, purpose=purpose))

    def export(
        self,
        run_id: int,
        path: str | Path,
        *,
        purpose: str,
        format: ExportFormat | None = None,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> Download:
        """Download the result (csv, parquet, or zip with dictionary, report and manifest) to ``path``, streamed.

        ``purpose`` is recorded with the export in the audit trail (the platform asks for a few words). The file
        is checked against the platform's SHA-256 and only appears at ``path`` once complete.
        """
        target = Path(path)
        chosen = export_format_for(target, format)
        return self._t.download(
            f"/queries/{int(run_id)}/export",
            target,
            params={"format": chosen, "purpose": purpose},
            timeout=EXPORT_TIMEOUT,
            progress=progress,
        )

    def report(self, run_id: int) -> Report:
        """The run's filtering report (step counts on the pinned versions) and final data summary."""
        return Report.from_api(self._t.request("GET", f"/queries/{int(run_id)}/report"))

    def lineage(self, run_id: int) -> Lineage:
        body = self._t.request("GET", f"/queries/{int(run_id)}/lineage")
        return replace(Lineage.from_api(body), run=self._run(body["run"]))

    def analysis(self, run_id: int, kind: str, **params: Any) -> dict[str, Any]:
        """A statistic of the result: ``kind`` = ols (x, y), describe (column), anova / ttests (value, group),
        crosstab (row, column); column names as in the run's ``columns``."""
        body = self._t.request(
            "POST", f"/queries/{int(run_id)}/analysis", json={"kind": kind, **params}, idempotent=True
        )
        return dict(body)

    def version_usage(self, study: str, dataset: str, number: int) -> dict[str, Any]:
        """Every run that read a dataset version and every export derived from it (stewards and owners)."""
        path = f"/studies/{segment(study)}/datasets/{segment(dataset)}/versions/{int(number)}/usage"
        return dict(self._t.request("GET", path))


def _error_parts(error: ErrorInfo | None) -> tuple[str, str]:
    return (error.code, error.message) if error else ("", "")
