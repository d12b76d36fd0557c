"""Analysis of a run's result: statistics, plot figures, point selections (view + export) and profile jobs.

Callers pass a :class:`analysis.access.RunAccess` from ``analysis_run_get`` (the one access check). Bad input from
the statistics (``StatsError``) becomes a 422 with its code; nothing here answers 500 for bad input.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from analysis.access import RunAccess
from analysis.crosstab_protection import crosstab_protected
from analysis.figures import Limits as FigureLimits
from analysis.figures import columns_needed, figure_build, options_parse
from analysis.models import ProfileJob, ProfileStatus
from analysis.stats import StatsError
from analysis.stats.loading import frame_load, rows_by_keys
from analysis.stats.profile import profile_build
from analysis.stats.requests import CrosstabRequest, Limits, analysis_run, request_parse
from audit.services import audit_event_record
from core.admission import interactive_slot
from core.config import config_get
from core.errors import Forbidden, InvalidInput
from core.parquet_reader import parquet_reader
from queries.exports import ExportFile, run_export
from queries.models import QueryRun
from queries.results import json_value, run_result_path
from tenants.models import Tenant
from tenants.suspension import WORK_OF_SUSPENDED_WORKSPACE, workspace_frozen

logger = logging.getLogger(__name__)
PROFILE_QUEUE = "queries"


def _invalid(exc: StatsError) -> InvalidInput:
    return InvalidInput(exc.message, code=exc.code, details=exc.details)


def _types(run: QueryRun) -> dict[str, str]:
    return dict(zip(run.columns, run.column_types, strict=False))


def _rows_needed(access: RunAccess) -> None:
    if access.count_only:
        raise Forbidden(
            "This needs row-level (query) access to every dataset of the run; you have aggregate (count) access.",
            code="access_level_insufficient",
            details={"needed": "query"},
        )


def analysis_compute(
    *, tenant: Tenant, actor: Any, access: RunAccess, payload: Any, request: HttpRequest | None = None
) -> dict[str, Any]:
    """One statistic of the run's result (``POST /queries/{id}/analysis``); audited as ``analysis.computed``.

    Aggregate-only callers may only ask for crosstabs, which they get through the cell-key method
    (``analysis.crosstab_protection``)."""
    run = access.run
    try:
        parsed = request_parse(payload)
    except StatsError as exc:
        raise _invalid(exc) from None
    if not isinstance(parsed, CrosstabRequest):
        _rows_needed(access)
    limits = Limits(
        sample_rows=int(config_get("analysis_sample_rows", tenant)),
        max_groups=int(config_get("analysis_max_groups", tenant)),
    )
    try:
        with interactive_slot(tenant=tenant, user=actor, what="analyses"):
            if access.count_only:
                result = crosstab_protected(
                    tenant=tenant,
                    actor=actor,
                    run=run,
                    row=parsed.row,
                    column=parsed.column,
                    max_levels=limits.max_groups,
                    request=request,
                )
            else:
                result = analysis_run(payload, run_result_path(run), _types(run), limits, reader=parquet_reader)
    except StatsError as exc:
        raise _invalid(exc) from None
    audit_event_record(
        action="analysis.computed",
        actor=actor,
        request=request,
        target=run,
        details={
            "kind": parsed.kind,
            "request": payload,
            "sampled": bool(result.get("sample", {}).get("sampled")),
            "suppressed": access.count_only,
        },
    )
    return result


def plot_build(
    *, tenant: Tenant, actor: Any, access: RunAccess, options: dict[str, Any], request: HttpRequest | None = None
) -> dict[str, Any]:
    """A Plotly figure of the run's result with its statistics (row level: needs query access)."""
    _rows_needed(access)
    run = access.run
    try:
        parsed = options_parse(options)
        names = columns_needed(parsed)
        if not names:
            raise StatsError("missing_column", "Choose the columns to plot.")
        with interactive_slot(tenant=tenant, user=actor, what="analyses"):
            frame = frame_load(
                run_result_path(run), names, _types(run), limit=int(config_get("analysis_sample_rows", tenant))
            )
            figure = figure_build(
                frame,
                parsed,
                FigureLimits(
                    max_groups=int(config_get("analysis_max_groups", tenant)),
                    max_facets=int(config_get("analysis_max_facets", tenant)),
                ),
            )
    except StatsError as exc:
        raise _invalid(exc) from None
    audit_event_record(
        action="analysis.plotted",
        actor=actor,
        request=request,
        target=run,
        details={"kind": parsed.kind, "columns": names, "sampled": frame.sampled, "points": frame.size},
    )
    return figure


def selection_keys_parse(raw: Any, *, tenant: Tenant) -> list[int]:
    """Selected row keys (non-negative integers, at most ``analysis_sample_rows``), or 422."""
    limit = int(config_get("analysis_sample_rows", tenant))
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("Select at least one point.", code="empty_selection")
    if len(raw) > limit:
        raise InvalidInput(f"At most {limit} rows can be selected at once.", code="selection_too_large")
    keys = []
    for key in raw:
        if isinstance(key, bool) or not isinstance(key, int) or key < 0:
            raise InvalidInput("Selected rows are identified by their row numbers.", code="invalid_selection")
        keys.append(key)
    return sorted(set(keys))


def selection_rows(
    *, actor: Any, access: RunAccess, keys: Sequence[int], request: HttpRequest | None = None
) -> dict[str, Any]:
    """The selected rows of the result (every column), looked up by row key; audited as ``analysis.selection``."""
    _rows_needed(access)
    run = access.run
    try:
        columns, found, rows = rows_by_keys(run_result_path(run), keys)
    except StatsError as exc:
        raise _invalid(exc) from None
    audit_event_record(
        action="analysis.selection",
        actor=actor,
        request=request,
        target=run,
        details={"rows": len(found)},
    )
    return {"columns": columns, "keys": found, "items": [[json_value(v) for v in row] for row in rows]}


def selection_export(
    *,
    tenant: Tenant,
    actor: Any,
    access: RunAccess,
    keys: Sequence[int],
    fmt: str,
    purpose: str,
    request: HttpRequest | None = None,
) -> ExportFile:
    """Export the selected rows through the run export path (formula-safe CSV or Parquet, audited, recorded).

    ``access`` must come from ``analysis_run_get(level=EXPORT)``.
    """
    return run_export(
        tenant=tenant, run=access.run, fmt=fmt, purpose=purpose, actor=actor, request=request, rows=list(keys)
    )


def profile_job_create(
    *, tenant: Tenant, actor: Any, access: RunAccess, request: HttpRequest | None = None
) -> ProfileJob:
    """Queue a profile report of the run's result on a worker (after commit); audited ``analysis.profile_requested``."""
    _rows_needed(access)
    run = access.run
    run_result_path(run)  # 409 unless the run succeeded
    with transaction.atomic():
        job = ProfileJob.objects.create(run=run, created_by=actor)
        audit_event_record(
            action="analysis.profile_requested", actor=actor, request=request, target=run, details={"job": job.pk}
        )
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from analysis.tasks import profile_job_execute_task

    profile_job_execute_task.apply_async(args=(job_id,), queue=PROFILE_QUEUE)


def _progress(job_id: int) -> Any:
    def report(fraction: float, message: str) -> None:
        ProfileJob.objects.filter(pk=job_id).update(progress=round(min(max(fraction, 0.0), 0.99), 3), message=message)

    return report


def profile_job_execute(job_id: int, *, tenant: Tenant | None = None) -> str:
    """Build the profile of a queued job (on the worker, in the tenant's schema); returns the final status."""
    job = ProfileJob.objects.select_related("run").filter(pk=job_id).first()
    if job is None or job.is_finished:
        return "missing" if job is None else job.status
    if tenant is not None and workspace_frozen(tenant):  # suspended since the job was queued: not started
        _profile_fail(job_id, "workspace_suspended", WORK_OF_SUSPENDED_WORKSPACE)
        return ProfileStatus.FAILED
    ProfileJob.objects.filter(pk=job_id).update(status=ProfileStatus.RUNNING, started_at=timezone.now(), progress=0.01)
    run = job.run
    try:
        report = profile_build(
            run_result_path(run),
            list(zip(run.columns, run.column_types, strict=False)),
            limit=int(config_get("analysis_sample_rows", tenant)),
            progress=_progress(job_id),
        )
    except StatsError as exc:
        _profile_fail(job_id, exc.code, exc.message)
        return ProfileStatus.FAILED
    except Exception:
        logger.exception("profile job %s failed", job_id)
        _profile_fail(job_id, "profile_failed", "The profile could not be built. The error has been logged.")
        return ProfileStatus.FAILED
    ProfileJob.objects.filter(pk=job_id).update(
        status=ProfileStatus.SUCCEEDED, progress=1.0, message="Done", report=report, finished_at=timezone.now()
    )
    return ProfileStatus.SUCCEEDED


def _profile_fail(job_id: int, code: str, message: str) -> None:
    ProfileJob.objects.filter(pk=job_id).update(
        status=ProfileStatus.FAILED, error_code=code, error_message=message, finished_at=timezone.now()
    )


def profile_report_download_record(*, actor: Any, request: HttpRequest | None, job: ProfileJob, fmt: str) -> None:
    """Audit a profile report download (``analysis.profile_downloaded``), page and API alike."""
    audit_event_record(
        action="analysis.profile_downloaded",
        actor=actor,
        request=request,
        target=job.run,
        details={"profile": job.pk, "run": job.run_id, "format": fmt},
    )
