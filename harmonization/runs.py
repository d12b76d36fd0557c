"""Federated runs: one ordinary run per study, stacked into one result in harmonized units.

Each study's part is created by ``queries.services.query_run_create`` (the one authorization path at the query
level, pinned versions, the run queue and worker, reuse of identical results), so a federated run reads nothing by a
side path. Once every part has finished, the parts' results are stacked (``harmonization.stacking``) into the
federated result, kept in storage like a run's. Every use of the result (rows, report, export) checks the caller's
level on every study's part again at that moment.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from access.levels import Level
from audit.services import audit_event_record
from core.errors import Conflict, NotFound
from datasets.storage import (
    copy_local_into_cache,
    file_sha256,
    storage_save,
    tenant_prefix,
    version_cache_path,
    work_root,
)
from harmonization.federation import Federated, StudyPart, federated_parse, study_named
from harmonization.mapping import Source, Variable
from harmonization.models import FederatedPart, FederatedRun
from harmonization.stacking import PartFile, stack_write
from queries.authorization import run_access_require, run_spec_authorize
from queries.execution import spec_read, study_latest_versions
from queries.models import QueryRun, RunStatus
from queries.results import run_result_path
from queries.services import query_run_create
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role

logger = logging.getLogger(__name__)
FINISHED = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


def _part_payload(
    part: StudyPart, variables: dict[str, Variable], wanted: list[str]
) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """The study's QuerySpec for a part, and where each wanted variable's source is (variable -> dataset, column)."""
    study = part.study
    demographics = study.demographics.name if study.demographics else ""
    columns: dict[str, list[str]] = {}
    used: dict[str, tuple[str, str]] = {}
    for name in wanted:
        source = variables[name].source_for(study.slug)
        if source is None:
            continue
        used[name] = (source.dataset, source.column)
        # demographics columns are output anyway; naming them makes the authorization check them (identifying)
        picked = columns.setdefault(source.dataset, [])
        if source.column not in picked:
            picked.append(source.column)
    latest = study_latest_versions(study)
    keep = {column for dataset, column in used.values() if dataset == demographics}
    keys = {study.id_column, study.session_column, study.composite_id_column} - {""}
    demo_columns = latest[demographics].column_names() if demographics in latest else []
    exclude = [c for c in demo_columns if c not in keep and c not in keys]
    payload: dict[str, Any] = {"filters": part.filters, "columns": columns}
    if exclude:
        payload["exclude"] = exclude
    return payload, used


def _run_id() -> int:
    """A new id from the sequence of ordinary runs: a run id names one run of either kind (``queries/{id}``)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [QueryRun._meta.db_table])
        return int(cursor.fetchone()[0])


def federated_run_create(
    *, tenant: Tenant, actor: Any, payload: Any, request: HttpRequest | None = None
) -> FederatedRun:
    """Queue a federated run: one run per study (all or none: a study the caller may not query refuses the whole
    request, nothing is queued)."""
    role_require(user=actor, tenant=tenant, minimum=Role.ANALYST, action="run queries")
    federated = federated_parse(actor=actor, tenant=tenant, payload=payload, outputs=True)
    plain = {name: row.as_variable() for name, row in federated.variables.items()}
    with transaction.atomic():
        run = FederatedRun.objects.create(
            pk=_run_id(),
            spec={
                "studies": [part.study.slug for part in federated.parts],
                "filters": federated.filters,
                "variables": federated.outputs,
                "shape": "long",
            },
            variables=federated.pinned(),
            created_by=actor,
        )
        for part in federated.parts:
            _part_create(tenant, actor, run, part, plain, federated, request)
        if all(p.run is None or p.run.status in FINISHED for p in run.parts.select_related("run")):
            # every part reused a finished result (or matches no one): no part's task will end to finish the run
            transaction.on_commit(lambda: _advance_enqueue(run.pk))
        audit_event_record(
            action="federated.run_created",
            actor=actor,
            request=request,
            target=run,
            details={
                "spec": run.spec,
                "variables": [{"name": v["name"], "revision": v["revision"]} for v in run.variables],
                "parts": [{"study": p.study_slug, "run": p.run_id} for p in run.parts.all()],
            },
        )
    return run


def _advance_enqueue(federated_id: int) -> None:
    from harmonization.tasks import federated_run_advance_task

    federated_run_advance_task.apply_async(args=(federated_id,))


def _part_create(
    tenant: Tenant,
    actor: Any,
    run: FederatedRun,
    part: StudyPart,
    plain: dict[str, Variable],
    federated: Federated,
    request: HttpRequest | None,
) -> None:
    spec, used = _part_payload(part, plain, federated.outputs)
    child = None
    with study_named(part.study.slug):
        if not part.matches_no_one:
            child = query_run_create(tenant=tenant, actor=actor, study=part.study, payload=spec, request=request)
        else:  # nobody matches by definition; the caller still needs the query level on the study's data
            run_spec_authorize(actor=actor, tenant=tenant, study=part.study, spec=spec_read({"filters": []}))
    FederatedPart.objects.create(
        federated=run,
        study_slug=part.study.slug,
        run=child,
        missing_variables=part.missing_variables,
        outputs={
            name: {"dataset": ds, "column": col, "type": part.source_types.get(name, "")}
            for name, (ds, col) in used.items()
        },
    )


def _result_column(part: FederatedPart, dataset: str, column: str) -> str:
    run = part.run
    assert run is not None
    demographics = run.study.demographics.name if run.study.demographics else ""
    qualified = f"{dataset}.{column}"
    if dataset != demographics and qualified in (run.columns or []):
        return qualified
    return column


def _variables_of(run: FederatedRun) -> list[Variable]:
    """The pinned definitions (not today's): a run is stacked with the definitions it was created with."""
    by_name = {
        item["name"]: Variable(
            name=item["name"],
            type=item["type"],
            label=item.get("label", ""),
            unit=item.get("unit", ""),
            sources=tuple(Source(**source) for source in item.get("sources") or []),
        )
        for item in run.variables
    }
    return [by_name[name] for name in run.spec["variables"]]


def federated_run_refresh(run: FederatedRun) -> FederatedRun:
    """Bring the run's status up to date with its parts; stack the result once every part has succeeded."""
    if run.status in FINISHED:
        return run
    parts = list(run.parts.select_related("run", "run__study", "run__study__demographics"))
    runs = [part.run for part in parts if part.run is not None]
    if any(child.status not in FINISHED for child in runs):
        if any(child.status != RunStatus.QUEUED for child in runs) and run.status == RunStatus.QUEUED:
            FederatedRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(status=RunStatus.RUNNING)
            run.status = RunStatus.RUNNING
        return run
    failed = next((child for child in runs if child.status != RunStatus.SUCCEEDED), None)
    with transaction.atomic():
        # Whoever holds the row is finishing the run (a worker stacking it): a reader does not wait for it.
        locked = FederatedRun.objects.select_for_update(skip_locked=True).filter(pk=run.pk).first()
        if locked is None or locked.status in FINISHED:
            return locked or run
        if failed is not None:
            locked.status = RunStatus.FAILED if failed.status == RunStatus.FAILED else RunStatus.CANCELLED
            locked.error_code = failed.error_code or str(failed.status)
            locked.error_message = f"{failed.study.slug}: {failed.error_message or failed.status}"
        else:
            try:
                _stack(locked, parts)
                locked.status = RunStatus.SUCCEEDED
            except Exception:  # never a half-made result; the parts' results stay usable on their own
                logger.exception("stacking federated run %s failed", locked.pk)
                locked.status = RunStatus.FAILED
                locked.error_code = "internal_error"
                locked.error_message = "Stacking the studies' results failed. It was logged; run it again."
        locked.finished_at = timezone.now()
        locked.save()
        audit_event_record(
            action=f"federated.run_{locked.status}",
            actor=locked.created_by,
            target=locked,
            details={"rows": locked.row_count, "code": locked.error_code},
        )
    return locked


def federated_run_advance(federated_id: int) -> str:
    """Bring one federated run of the current workspace up to date (a worker, when one of its parts has ended);
    its status, or ``missing``. Idempotent: finishing twice finishes once."""
    run = FederatedRun.objects.filter(pk=federated_id).first()
    return "missing" if run is None else str(federated_run_refresh(run).status)


def federated_runs_waiting_on(run_id: int) -> list[int]:
    """Unfinished federated runs of the current workspace with a part on run ``run_id``."""
    waiting = FederatedPart.objects.filter(run_id=run_id, federated__status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
    return sorted(set(waiting.values_list("federated_id", flat=True)))


def federated_runs_advance() -> int:
    """Every unfinished federated run of the current workspace brought up to date (the periodic sweep, for parts
    that ended without a task of theirs reporting it: a cancelled queued run, a reaped one). Returns how many
    finished now."""
    finished = 0
    for run in FederatedRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).order_by("pk"):
        try:
            finished += federated_run_refresh(run).status in FINISHED
        except Exception:
            logger.exception("federated run %s could not be brought up to date", run.pk)
    return finished


def _stack(run: FederatedRun, parts: list[FederatedPart]) -> None:
    files = []
    for part in parts:
        if part.run is None:
            continue
        study = part.run.study
        files.append(
            PartFile(
                study=part.study_slug,
                path=run_result_path(part.run),
                id_column=study.id_column,
                session_column=study.session_column or None,
                columns={
                    name: _result_column(part, where["dataset"], where["column"])
                    for name, where in part.outputs.items()
                },
                source_types={name: where.get("type", "") for name, where in part.outputs.items()},
            )
        )
    work = Path(tempfile.mkdtemp(prefix=f"federated-{run.pk}-", dir=work_root()))
    try:
        out = work / "result.parquet"
        rows, columns = stack_write(files, _variables_of(run), out)
        name = f"{tenant_prefix()}federated/{run.pk}/result.parquet"
        sha = file_sha256(out)  # before the save: nothing after it may fail and leave the file behind
        with open(out, "rb") as handle:
            storage_save(name, handle, replace_orphan=True)
        copy_local_into_cache(out, sha)  # best effort: a missed cache is fetched from storage on first use
    finally:
        shutil.rmtree(work, ignore_errors=True)
    run.row_count, run.columns, run.result_file, run.result_sha256 = rows, columns, name, sha


def federated_run_get_for_user(*, user: Any, tenant: Tenant, run_id: int) -> FederatedRun:
    """A federated run the caller may see (their own; stewards and owners: all), brought up to date; else 404."""
    membership = role_require(user=user, tenant=tenant, minimum=Role.ANALYST, action="see query runs")
    runs = FederatedRun.objects.all()
    if membership.role not in {Role.STEWARD, Role.OWNER}:
        runs = runs.filter(created_by=user)
    run = runs.filter(pk=run_id).first()
    if run is None:
        raise NotFound("No such run.")
    return federated_run_refresh(run)


def federated_access_require(*, actor: Any, tenant: Tenant, run: FederatedRun, level: Level) -> list[Any]:
    """The one access check on every study's part at the moment of use; returns the decisions (a refusal names
    the study, ``details.study``)."""
    decisions = []
    for part in run.parts.select_related("run", "run__study", "run__study__demographics"):
        if part.run is None:
            continue
        with study_named(part.study_slug):
            decisions.append(run_access_require(actor=actor, tenant=tenant, run=part.run, level=level))
    return decisions


def federated_result_path(run: FederatedRun) -> Path:
    """A local copy of the stacked result; 409 unless the run succeeded."""
    if run.status != RunStatus.SUCCEEDED or not run.result_file:
        raise Conflict(f"The run has no result: it is {run.status}.", code="run_not_succeeded")
    return version_cache_path(run.result_file, run.result_sha256)
