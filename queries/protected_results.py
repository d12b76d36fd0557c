"""Every use of a query's data, behind the one access check (``access.enforcement``) at the moment of use.

Pages and the API call these instead of the raw readers: rows need ``query``, the filtering report ``count``
(suppressed and rounded for aggregate-only callers), exports ``export``. A grant that expired or was revoked after
a run was made stops its rows, report and exports immediately.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest

from access.enforcement import run_access_require, spec_access_require
from access.levels import Level
from access.suppression import protect_number, rounding_base, steps_protect, summary_protect, suppression_threshold
from audit.services import audit_event_record
from bdt_project.admission import interactive_slot
from bdt_project.config import config_get
from bdt_project.errors import ApiError, Forbidden
from datasets.models import Study
from queries.engines.base import EngineError, EngineTimeout, report_rows
from queries.execution import engine_create, engine_error_to_api, interactive_estimate_require, query_prepare
from queries.exports import ExportFile, run_export
from queries.lineage import RunComparison, run_compare
from queries.models import QueryRun
from queries.results import filtering_report, final_summary, result_page
from tenants.access import membership_for
from tenants.models import Tenant
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


def run_report_for_user(*, tenant: Tenant, actor: Any, run: QueryRun) -> dict[str, Any]:
    """The run's filtering report and final summary (count level; protected for aggregate-only callers)."""
    decision = run_access_require(actor=actor, tenant=tenant, run=run, level=Level.COUNT)
    keys = {run.study.id_column, run.study.session_column} - {""}
    with interactive_slot(tenant=tenant, user=actor, what="previews and reports"):
        summary = final_summary(run, keys)
        steps = filtering_report(run)
    if decision.aggregate_only:
        seed = run.cache_key or run.spec_hash
        steps = steps_protect(steps, tenant=tenant, study=run.study, seed=seed)
        summary = summary_protect(summary, tenant=tenant, study=run.study, seed=seed)
    return {"steps": steps, "summary": summary, "aggregate_only": decision.aggregate_only}


def _run_seed(run: QueryRun) -> str:
    return run.cache_key or run.spec_hash


def _protected(value: int | None, *, tenant: Tenant, run: QueryRun, label: str) -> int | None:
    """One count of ``run`` as an aggregate-only caller sees it (suppressed below k, seeded rounding above)."""
    return protect_number(
        value,
        seed=_run_seed(run),
        label=label,
        threshold=suppression_threshold(tenant=tenant, study=run.study),
        base=rounding_base(tenant=tenant),
    )


def run_row_count_for_user(*, tenant: Tenant, actor: Any, run: QueryRun) -> int | None:
    """The run's row count as the caller may see it now: exact with ``query`` on every dataset it read, suppressed
    and rounded at ``count`` (the live count's rule), None below ``count`` (e.g. after a grant expired)."""
    if run.row_count is None:
        return None
    try:
        decision = run_access_require(actor=actor, tenant=tenant, run=run, level=Level.COUNT)
    except Forbidden:
        return None
    if not decision.aggregate_only:
        return int(run.row_count)
    return _protected(int(run.row_count), tenant=tenant, run=run, label="rows")


def runs_rows_shown(*, tenant: Tenant, actor: Any, runs: Iterable[QueryRun]) -> list[QueryRun]:
    """``runs`` with ``shown_rows`` set on each (``run_row_count_for_user``; exact for stewards and owners)."""
    membership = membership_for(user=actor, tenant=tenant)
    everything = membership is not None and role_at_least(membership.role, Role.STEWARD)
    listed = list(runs)
    for run in listed:
        run.shown_rows = (  # type: ignore[attr-defined]
            run.row_count if everything else run_row_count_for_user(tenant=tenant, actor=actor, run=run)
        )
    return listed


def run_compare_for_user(*, tenant: Tenant, actor: Any, original: QueryRun, rerun: QueryRun) -> RunComparison:
    """How ``rerun``'s result differs from ``original``'s (count level on both; protected when aggregate-only)."""
    decisions = [
        run_access_require(actor=actor, tenant=tenant, run=run, level=Level.COUNT) for run in (original, rerun)
    ]
    comparison = run_compare(original, rerun)
    if any(decision.aggregate_only for decision in decisions):
        comparison.participants = (
            _protected(comparison.participants[0], tenant=tenant, run=original, label="participants"),
            _protected(comparison.participants[1], tenant=tenant, run=rerun, label="participants"),
        )
        comparison.rows = (
            _protected(comparison.rows[0], tenant=tenant, run=original, label="rows"),
            _protected(comparison.rows[1], tenant=tenant, run=rerun, label="rows"),
        )
    return comparison


def run_export_for_user(
    *, tenant: Tenant, actor: Any, run: QueryRun, fmt: str, purpose: str, request: HttpRequest | None = None
) -> ExportFile:
    """An export file of the run (export level on every dataset of the run)."""
    run_access_require(actor=actor, tenant=tenant, run=run, level=Level.EXPORT)
    with interactive_slot(tenant=tenant, user=actor, what="exports"):
        return run_export(run=run, fmt=fmt, purpose=purpose, actor=actor, request=request)


def spec_report_for_user(
    *, tenant: Tenant, actor: Any, study: Study, payload: Any, request: HttpRequest | None = None
) -> dict[str, Any]:
    """The filtering report of a spec without a run (count level; the live report of the builder and the API)."""
    decision = spec_access_require(actor=actor, tenant=tenant, study=study, spec=payload, level=Level.COUNT)
    prepared = query_prepare(study, payload, purpose="interactive")
    interactive_estimate_require(prepared, "report")  # what cannot fit is refused before any engine work
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
    by = "rows" if study.is_longitudinal else "participants"
    steps = report_rows(counted, by=by)
    for row, people in zip(steps, report_rows(counted, by="participants"), strict=False):
        row["participants_after"] = people["after"]
    if decision.aggregate_only:
        steps = steps_protect(steps, tenant=tenant, study=study, seed=prepared.cache_key)
    audit_event_record(
        action="query.report",
        actor=actor,
        request=request,
        target=study,
        details={
            "spec_hash": prepared.spec_hash,
            "aggregate_only": decision.aggregate_only,
            "suppressed": any(step.get("suppressed") for step in steps),
        },
    )
    return {"steps": steps, "aggregate_only": decision.aggregate_only}
