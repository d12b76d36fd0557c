"""Counts, query runs and saved queries: authorization, caching, dedup and audit around the query core."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from access.budget import CountBudgetExhausted, count_budget_charge, count_questions
from access.enforcement import shown_count_audit
from access.levels import Level
from access.protection import cell_of, count_shown, disclosure_rules, dropoff_shown
from audit.services import audit_event_record
from core.admission import interactive_slot
from core.config import config_get
from core.errors import ApiError, Conflict, InvalidInput, NotFound
from datasets.models import Dataset, DatasetVersion, Study
from queries.authorization import run_spec_authorize, spec_authorize
from queries.core.engines.contract import EngineError, EngineTimeout
from queries.core.spec import QuerySpec, spec_audit_details
from queries.execution import (
    CountKey,
    engine_create,
    engine_error_to_api,
    interactive_estimate_require,
    query_count_key,
    query_prepare,
    run_estimate_require,
    spec_read,
    study_datasets_latest,
)
from queries.models import ACTIVE_STATUSES, QueryRun, QueryRunVersion, RunStatus, SavedQuery
from queries.participant_stores import participant_store_location
from queries.run_queue import run_enqueue, run_queue_admit
from tenants.models import Tenant
from tenants.quotas import Quota, day_start, quota_require
from tenants.role_checks import role_require
from tenants.roles import Role

COUNT_CACHE_SECONDS = 3600


class QueryTimeout(ApiError):
    """An interactive computation exceeded its time limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            504, "timeout", f"The count took longer than {seconds:g} s and was stopped. Narrow the filters or run it."
        )


def _count_cache_key(actor: Any, cache_key: str) -> str:
    """Count results are cached per member: another member's count of the same spec never makes yours faster (a
    quick answer would tell you that someone counted it)."""
    return f"count:{getattr(actor, 'pk', '')}:{cache_key}"


def _cell_dict(counted: Any) -> dict[str, Any]:
    return {
        "participants": counted.participants,
        "rows": counted.rows,
        "participants_key": counted.participants_key,
        "rows_key": counted.rows_key,
    }


def _counted(engine: Any, prepared: Any, dropoff: bool) -> dict[str, Any]:
    """The engine's answer as the cache keeps it: the count's cell, plus the drop-off's cells when asked (the
    same engine pass computes both)."""
    if not dropoff:
        return _cell_dict(engine.count(prepared.validated, prepared.catalog))
    found = engine.dropoff(prepared.validated, prepared.catalog)
    return {
        **_cell_dict(found.total),
        "dropoff": {
            "start": _cell_dict(found.start),
            "filters": [
                {"remaining": _cell_dict(f.remaining), "removed_alone": _cell_dict(f.removed_alone)}
                for f in found.filters
            ],
        },
    }


@dataclass(frozen=True)
class CountComputed:
    """A count's true numbers (with the cell keys when computed ``keyed``), before any protection."""

    result: dict[str, Any]  # participants, rows, participants_key, rows_key (and "dropoff" when asked)
    count_key: CountKey
    cached: bool


def query_count_compute(
    *,
    tenant: Tenant,
    actor: Any,
    study: Study,
    spec: QuerySpec,
    keyed: bool,
    dropoff: bool = False,
    study_datasets: Sequence[Dataset] | None = None,
) -> CountComputed:
    """The true count of an already authorized ``spec`` (cached per member by spec + versions); ``keyed`` adds the
    cell keys aggregate-only answers are made from, ``dropoff`` each filter's cells (same engine pass). Callers
    protect and audit what they show (:func:`query_count`, and federated counts, which protect per-study cells
    against their total). ``study_datasets``: :func:`study_datasets_latest` of this request, when already read."""
    count_key = query_count_key(study, spec, study_datasets)
    variant = f"{'keyed' if keyed else 'exact'}{':dropoff' if dropoff else ''}"
    key = _count_cache_key(actor, f"{count_key.cache_key}:{variant}")
    result = cache.get(key)
    cached = result is not None
    if result is None:
        prepared = query_prepare(
            tenant=tenant,
            study=study,
            spec=spec,
            versions=count_key.pinned_versions(),
            keyed=keyed,
            purpose="interactive",
        )
        # what cannot fit is refused before any engine work; keyed answers are aggregate-only: no sizes in it
        interactive_estimate_require(prepared, "count", aggregate_only=keyed)
        with interactive_slot(tenant=tenant, user=actor, what="counts and reports"):
            timeout = float(config_get("count_timeout_seconds", tenant))
            engine = engine_create(study, timeout_s=timeout, store=participant_store_location(study))
            try:
                result = _counted(engine, prepared, dropoff)
            except EngineTimeout as exc:
                raise QueryTimeout(timeout) from exc
            except EngineError as exc:
                raise engine_error_to_api(exc) from exc
            finally:
                engine.close()
        cache.set(key, result, COUNT_CACHE_SECONDS)
    return CountComputed(result=result, count_key=count_key, cached=cached)


def query_count(
    *,
    tenant: Tenant,
    actor: Any,
    study: Study,
    payload: Any,
    request: HttpRequest | None = None,
    dropoff: bool = False,
) -> dict[str, Any]:
    """Distinct participants and distinct merge keys matching the spec (cached per member by spec + versions).

    With ``dropoff``, also per filter who remains after it (in order) and who it removes on its own (one engine
    pass; ``dropoff_start`` = after the selections, before any filter).

    Aggregate-only callers get the cell-key method's answer (perturbed, suppressed below k) for every number (each
    drop-off number is a cell of its own) and are charged its questions in their count budget (429
    ``count_budget_exhausted`` past it; decided on the request, never on the answer). The audit event holds the
    full spec.
    """
    spec = spec_read(payload)  # parse once; authorize the typed spec, then validate it against the catalog
    # One read of the study's datasets with their newest versions serves the access check and the cache key.
    datasets = study_datasets_latest(study)
    decision = spec_authorize(
        actor=actor, tenant=tenant, study=study, spec=spec, level=Level.COUNT, study_datasets=datasets
    )
    # Authorize first, then the cache: the key needs no catalog, so a hit skips building and validating it.
    # Only aggregate-only answers need the cell keys (they cost a join).
    computed = query_count_compute(
        tenant=tenant,
        actor=actor,
        study=study,
        spec=spec,
        keyed=decision.aggregate_only,
        dropoff=dropoff,
        study_datasets=datasets,
    )
    result, count_key = computed.result, computed.count_key
    rules = disclosure_rules(tenant=tenant, study=study) if decision.aggregate_only else None
    withheld = False
    if rules is not None:
        cell = cell_of(result)

        def charge(with_dropoff: bool) -> None:  # the questions of the request, never its answer
            filters = len(count_key.spec.filters) if with_dropoff else None
            count_budget_charge(
                tenant=tenant,
                actor=actor,
                study=study,
                questions=count_questions(count_key.cache_key, dropoff_filters=filters),
                surface="count",
                spec_hash=count_key.spec_hash,
                spec=count_key.spec.model_dump(mode="json"),
                request=request,
            )

        try:
            charge(dropoff)
        except CountBudgetExhausted:
            if not dropoff:
                raise
            charge(False)  # the count alone may still fit: answer it without the drop-off's new questions
            withheld = True
        shown = count_shown(cell, rules)
    else:
        shown = {"participants": result["participants"], "rows": result["rows"]}
    if dropoff and not withheld:
        shown.update(dropoff_shown(result["dropoff"], rules))
    elif withheld:
        shown["dropoff_withheld"] = "count_budget_exhausted"
    audit_event_record(
        action="query.count",
        actor=actor,
        request=request,
        target=study,
        details={
            "spec_hash": count_key.spec_hash,
            **spec_audit_details(count_key.spec),
            "cached": computed.cached,
            **shown_count_audit(decision, shown),
            **({"dropoff": "withheld" if withheld else "shown"} if dropoff else {}),
        },
    )
    return shown


def query_run_create(
    *,
    tenant: Tenant,
    actor: Any,
    study: Study,
    payload: Any,
    request: HttpRequest | None = None,
    versions: dict[str, DatasetVersion] | None = None,
    rerun_of: QueryRun | None = None,
    reuse: bool = True,
    enqueue: bool = True,
) -> QueryRun:
    """Queue a run (or join an identical one in flight / reuse an identical finished result).

    ``reuse=False`` (and every rerun) always executes again; ``enqueue=False`` leaves the queued run to the caller.
    """
    reuse = reuse and rerun_of is None
    spec, _ = run_spec_authorize(actor=actor, tenant=tenant, study=study, spec=spec_read(payload))  # hides id cols
    prepared = query_prepare(tenant=tenant, study=study, spec=spec, versions=versions)
    run_estimate_require(prepared)  # before anything is queued: what cannot fit is refused with what to change
    if reuse:
        mine = (
            QueryRun.objects.filter(cache_key=prepared.cache_key, created_by=actor, study=study)
            .filter(status__in=[*ACTIVE_STATUSES, RunStatus.SUCCEEDED])
            .order_by("-created_at")
            .first()
        )
        if mine is not None and (mine.status != RunStatus.SUCCEEDED or default_storage.exists(mine.result_file)):
            return mine
    shared = None
    if reuse:
        shared = (
            QueryRun.objects.filter(cache_key=prepared.cache_key, study=study, status=RunStatus.SUCCEEDED)
            .exclude(result_file="")
            .order_by("-finished_at")
            .first()
        )
        if shared is not None and not default_storage.exists(shared.result_file):
            shared = None
    with transaction.atomic():
        if shared is None:
            runs_today = QueryRun.objects.filter(created_at__gte=day_start(), reused_from__isnull=True).count()
            quota_require(tenant=tenant, quota=Quota.RUNS_PER_DAY, used=runs_today)
            run_queue_admit(tenant=tenant, actor=actor)
        run = QueryRun.objects.create(
            study=study,
            spec=prepared.spec.model_dump(mode="json"),
            spec_hash=prepared.spec_hash,
            cache_key=prepared.cache_key,
            shape=prepared.spec.shape,
            engine=study.engine,
            created_by=actor,
            rerun_of=rerun_of,
        )
        QueryRunVersion.objects.bulk_create(
            QueryRunVersion(run=run, version=v, dataset_name=name, number=v.number, sha256=v.sha256)
            for name, v in sorted(prepared.versions.items())
        )
        if shared is not None:
            now = timezone.now()
            for field in ("row_count", "columns", "column_types", "result_file", "result_sha256", "result_size"):
                setattr(run, field, getattr(shared, field))
            run.status, run.reused_from = RunStatus.SUCCEEDED, shared
            run.started_at = run.finished_at = run.heartbeat_at = now
            run.save()
        audit_event_record(
            action="query.run_created",
            actor=actor,
            request=request,
            target=run,
            details={
                "study": study.slug,
                "spec_hash": prepared.spec_hash,
                "spec": run.spec,
                "versions": {name: [v.number, v.sha256] for name, v in prepared.versions.items()},
                "reused_from": shared.pk if shared else None,
                "rerun_of": rerun_of.pk if rerun_of else None,
            },
        )
        if shared is None and enqueue:
            transaction.on_commit(lambda: run_enqueue(run))
    return run


def query_run_cancel(
    *, tenant: Tenant, actor: Any, run: QueryRun, request: HttpRequest | None = None, wait_seconds: float = 5.0
) -> QueryRun:
    """Cancel a run: a queued run stops at once; a running one when its engine has stopped (waits briefly)."""
    _run_owner_or_steward(tenant, actor, run)
    if run.is_finished:
        raise Conflict(f"The run has already {run.status}.", code="run_finished")
    with transaction.atomic():
        cancelled_now = QueryRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.CANCELLED, cancel_requested=True, finished_at=timezone.now()
        )
        if not cancelled_now:
            QueryRun.objects.filter(pk=run.pk).update(cancel_requested=True)
        audit_event_record(action="query.run_cancel_requested", actor=actor, request=request, target=run)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.is_finished:
            break
        time.sleep(0.1)
    return run


def _run_owner_or_steward(tenant: Tenant, actor: Any, run: QueryRun) -> None:
    membership = role_require(user=actor, tenant=tenant, minimum=Role.ANALYST, action="manage runs")
    if run.created_by_id != actor.pk and membership.role not in {Role.STEWARD, Role.OWNER}:
        raise NotFound("No such run.")


def query_runs_reap(*, stale_seconds: float = 180) -> int:
    """Fail running runs whose worker stopped sending heartbeats (never leave a run 'running')."""
    cutoff = timezone.now() - timedelta(seconds=stale_seconds)
    stale = QueryRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff)
    count = 0
    for run in stale:
        updated = QueryRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED,
            error_code="worker_lost",
            error_message="The worker running this query stopped. Run it again.",
            finished_at=timezone.now(),
        )
        if updated:
            audit_event_record(action="query.run_failed", target=run, details={"code": "worker_lost"})
            count += 1
    return count


def saved_query_save(
    *,
    tenant: Tenant,
    actor: Any,
    study: Study,
    name: str,
    spec: Any,
    description: str = "",
    shared: bool = False,
    saved: SavedQuery | None = None,
    request: HttpRequest | None = None,
) -> SavedQuery:
    """Create or update a saved query (the spec is validated against the study first)."""
    role_require(user=actor, tenant=tenant, minimum=Role.ANALYST, action="save queries")
    typed = spec_read(spec)
    spec_authorize(actor=actor, tenant=tenant, study=study, spec=typed, level=Level.QUERY)
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("Give the saved query a name of 1-200 characters.", code="invalid_name")
    prepared = query_prepare(tenant=tenant, study=study, spec=typed)
    if saved is not None and saved.owner_id != actor.pk:
        raise NotFound("No such saved query.")
    with transaction.atomic():
        if saved is None:
            saved = SavedQuery(study=study, owner=actor)
        saved.name, saved.description, saved.shared = name, description, shared
        saved.spec = prepared.spec.model_dump(mode="json")
        saved.save()
        audit_event_record(
            action="saved_query.saved",
            actor=actor,
            request=request,
            target=saved,
            details={"spec_hash": prepared.spec_hash, "shared": shared},
        )
    return saved


def saved_query_delete(*, tenant: Tenant, actor: Any, saved: SavedQuery, request: HttpRequest | None = None) -> None:
    """Delete one of your saved queries."""
    role_require(user=actor, tenant=tenant, minimum=Role.ANALYST, action="delete saved queries")
    if saved.owner_id != actor.pk:
        raise NotFound("No such saved query.")
    with transaction.atomic():
        audit_event_record(action="saved_query.deleted", actor=actor, request=request, target=saved)
        saved.delete()


def current_tenant() -> Tenant | None:
    """The tenant of the database connection (inside tenant_context or a tenant task)."""
    return getattr(connection, "tenant", None)
