"""Every use of a query's data, behind the one access check (``access.enforcement``) at the moment of use.

Pages and the API call these instead of the raw readers: rows need ``query``, the filtering report ``count``
(the cell-key method for aggregate-only callers: ``access.protection``), exports ``export``. A grant that expired
or was revoked after a run was made stops its rows, report and exports immediately.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest

from access.budget import count_budget_charge, report_questions
from access.disclosure import ShownCell, protect_cell
from access.levels import Level
from access.protection import cell_of, disclosure_rules, steps_shown, summary_shown
from audit.services import audit_event_record
from core.admission import interactive_slot
from core.config import config_get
from core.errors import ApiError, Forbidden
from datasets.models import Study
from datasets.study_origins import study_origin
from queries.authorization import run_access_require, spec_authorize
from queries.core.engines.contract import EngineError, EngineTimeout
from queries.execution import engine_create, engine_error_to_api, interactive_estimate_require, query_prepare, spec_read
from queries.exports import ExportFile, run_export
from queries.lineage import RunComparison, run_compare
from queries.models import QueryRun, RunStatus
from queries.result_cells import run_column_cells, run_total_cell
from queries.results import final_summary, report_from_steps, result_page, run_step_counts
from tenants.models import Tenant
from tenants.role_checks import membership_for
from tenants.roles import Role, role_at_least


def run_rows_for_user(
    *,
    tenant: Tenant,
    actor: Any,
    run: QueryRun,
    page: int,
    page_size: int,
    sort: str | None,
    descending: bool,
    request: HttpRequest | None = None,
) -> dict[str, Any]:
    """A page of a run's rows (query level on every dataset of the run); every page read is audited."""
    run_access_require(actor=actor, tenant=tenant, run=run, level=Level.QUERY)
    with interactive_slot(tenant=tenant, user=actor, what="previews and reports"):
        data = result_page(run, page=page, page_size=page_size, sort=sort, descending=descending)
    audit_event_record(
        action="query.preview",
        actor=actor,
        request=request,
        target=run,
        details={
            "study": run.study.slug,
            "page": page,
            "page_size": page_size,
            "rows": len(data["items"]),
            "sort": sort,
            "descending": descending,
        },
    )
    return data


def run_report_for_user(
    *, tenant: Tenant, actor: Any, run: QueryRun, request: HttpRequest | None = None
) -> dict[str, Any]:
    """The run's filtering report and final summary (count level; the cell-key method for aggregate-only callers,
    who are charged the report's questions against their count budget). Every read is audited
    (``query.report_read``): a report discloses counts like a count does."""
    decision = run_access_require(actor=actor, tenant=tenant, run=run, level=Level.COUNT)
    audit_event_record(
        action="query.report_read",
        actor=actor,
        request=request,
        target=run,
        details={"run": run.pk, "study": run.study.slug, "aggregate_only": decision.aggregate_only},
    )
    keys = {run.study.id_column, run.study.session_column} - {""}
    with interactive_slot(tenant=tenant, user=actor, what="previews and reports"):
        summary = final_summary(run, keys)
        counted = run_step_counts(run, tenant=tenant, keyed=decision.aggregate_only)
    steps = report_from_steps(counted, longitudinal=run.study.is_longitudinal)
    if decision.aggregate_only:
        rules = disclosure_rules(tenant=tenant, study=run.study)
        step_cells = [cell_of(step) for step in counted]
        column_cells = run_column_cells(run, [str(item.get("column")) for item in summary[1:]])
        summary_cells = [run_total_cell(run), *(column_cells.get(str(item.get("column"))) for item in summary[1:])]
        summarized = ["(total)", *(name for name in run.columns or [] if name not in keys)]  # the run's, not the data's
        count_budget_charge(
            tenant=tenant,
            actor=actor,
            study=run.study,
            questions=report_questions("run_report", run.cache_key, steps=len(step_cells), summary=summarized),
            surface="run_report",
            spec_hash=run.spec_hash,
            spec=run.spec,
            request=request,
        )
        steps = steps_shown(steps, step_cells, rules, by_rows=run.study.is_longitudinal)
        summary = summary_shown(summary, summary_cells, rules)
    return {"steps": steps, "summary": summary, "aggregate_only": decision.aggregate_only}


def _shown_total(run: QueryRun, *, tenant: Tenant) -> ShownCell | None:
    """The run's whole result as an aggregate-only caller sees it (None when it has none or cannot be keyed)."""
    cell = run_total_cell(run)
    return protect_cell(cell, disclosure_rules(tenant=tenant, study=run.study)) if cell is not None else None


def run_row_total_for_user(*, tenant: Tenant, actor: Any, run: QueryRun) -> tuple[int | None, bool]:
    """(the run's row count as the caller may see it now, whether it is perturbed): exact with ``query`` on every
    dataset it read; the cell-key method's number at ``count`` (the same as the live count of the same set); None
    below ``count`` (e.g. after a grant expired) and when suppressed."""
    if run.row_count is None:
        return None, False
    try:
        decision = run_access_require(actor=actor, tenant=tenant, run=run, level=Level.COUNT)
    except Forbidden:
        return None, False
    if not decision.aggregate_only:
        return int(run.row_count), False
    shown = _shown_total(run, tenant=tenant)
    return (shown.rows if shown is not None else None), True


def run_sizes_exact_for_user(*, tenant: Tenant, actor: Any, run: QueryRun) -> bool:
    """Whether the caller may see exact sizes of what ``run`` produced (e.g. its exports' rows): ``query`` on every
    dataset it read, now (not when the run was made)."""
    try:
        decision = run_access_require(actor=actor, tenant=tenant, run=run, level=Level.COUNT)
    except Forbidden:
        return False
    return not decision.aggregate_only


def run_row_count_for_user(*, tenant: Tenant, actor: Any, run: QueryRun) -> int | None:
    """The run's row count as the caller may see it now (see :func:`run_row_total_for_user`)."""
    return run_row_total_for_user(tenant=tenant, actor=actor, run=run)[0]


def runs_rows_shown(*, tenant: Tenant, actor: Any, runs: Iterable[QueryRun]) -> list[QueryRun]:
    """``runs`` with ``shown_rows`` set on each (``run_row_count_for_user``; exact for stewards and owners on the
    workspace's own studies: a study another workspace provides caps them at its ceiling like anyone)."""
    membership = membership_for(user=actor, tenant=tenant)
    everything = membership is not None and role_at_least(membership.role, Role.STEWARD)
    provided: dict[int, bool] = {}
    listed = list(runs)
    for run in listed:
        if everything and run.study_id not in provided:
            provided[run.study_id] = study_origin(run.study) is not None
        exact = everything and not provided[run.study_id]
        run.shown_rows = (  # type: ignore[attr-defined]
            run.row_count if exact else run_row_count_for_user(tenant=tenant, actor=actor, run=run)
        )
    return listed


def run_compare_for_user(*, tenant: Tenant, actor: Any, original: QueryRun, rerun: QueryRun) -> RunComparison:
    """How ``rerun``'s result differs from ``original``'s (count level on both; protected when aggregate-only)."""
    decisions = [
        run_access_require(actor=actor, tenant=tenant, run=run, level=Level.COUNT) for run in (original, rerun)
    ]
    comparison = run_compare(original, rerun)
    if any(decision.aggregate_only for decision in decisions):
        comparison.aggregate_only = True
        shown = [
            _shown_total(run, tenant=tenant) if run.status == RunStatus.SUCCEEDED else None for run in (original, rerun)
        ]
        comparison.participants = (
            shown[0].participants if shown[0] else None,
            shown[1].participants if shown[1] else None,
        )
        comparison.rows = (shown[0].rows if shown[0] else None, shown[1].rows if shown[1] else None)
    return comparison


def run_export_for_user(
    *, tenant: Tenant, actor: Any, run: QueryRun, fmt: str, purpose: str, request: HttpRequest | None = None
) -> ExportFile:
    """An export file of the run (export level on every dataset of the run)."""
    run_access_require(actor=actor, tenant=tenant, run=run, level=Level.EXPORT)
    with interactive_slot(tenant=tenant, user=actor, what="exports"):
        return run_export(tenant=tenant, run=run, fmt=fmt, purpose=purpose, actor=actor, request=request)


def spec_report_for_user(
    *, tenant: Tenant, actor: Any, study: Study, payload: Any, request: HttpRequest | None = None
) -> dict[str, Any]:
    """The filtering report of a spec without a run (count level; the live report of the builder and the API).

    For aggregate-only callers every step is a cell of the cell-key method (so 200 steps that remove nobody show
    200 times the same number), and the report's questions (one per step) are charged against their count budget.
    The audit event holds the full spec."""
    spec = spec_read(payload)
    decision = spec_authorize(actor=actor, tenant=tenant, study=study, spec=spec, level=Level.COUNT)
    prepared = query_prepare(
        tenant=tenant, study=study, spec=spec, keyed=decision.aggregate_only, purpose="interactive"
    )
    # what cannot fit is refused before any engine work (aggregate-only callers: without the study's sizes)
    interactive_estimate_require(prepared, "report", aggregate_only=decision.aggregate_only)
    with interactive_slot(tenant=tenant, user=actor, what="counts and reports"):
        timeout = float(config_get("count_timeout_seconds", tenant))
        engine = engine_create(study, timeout_s=timeout)
        try:
            counted = engine.steps(prepared.validated, prepared.catalog)
        except EngineTimeout as exc:
            raise ApiError(
                504, "timeout", f"The report took longer than {timeout:g} s and was stopped. Use fewer filters."
            ) from exc
        except EngineError as exc:
            raise engine_error_to_api(exc) from exc
        finally:
            engine.close()
    steps = report_from_steps(counted, longitudinal=study.is_longitudinal)
    spec_json = prepared.spec.model_dump(mode="json")
    if decision.aggregate_only:
        cells = [cell_of(step) for step in counted]
        count_budget_charge(
            tenant=tenant,
            actor=actor,
            study=study,
            questions=report_questions("report", prepared.cache_key, steps=len(cells)),
            surface="report",
            spec_hash=prepared.spec_hash,
            spec=spec_json,
            request=request,
        )
        steps = steps_shown(steps, cells, disclosure_rules(tenant=tenant, study=study), by_rows=study.is_longitudinal)
    audit_event_record(
        action="query.report",
        actor=actor,
        request=request,
        target=study,
        details={
            "spec_hash": prepared.spec_hash,
            "spec": spec_json,
            "aggregate_only": decision.aggregate_only,
            "suppressed": any(step.get("suppressed") for step in steps),
        },
    )
    return {"steps": steps, "aggregate_only": decision.aggregate_only}
