"""Connections and syncs API (stewards and owners): /connections, /studies/{study}/syncs, /syncs/{id}."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from connectors.core import connector_class, connector_kinds
from connectors.models import Connection, Sync, SyncRun
from connectors.selectors import (
    connection_get_for_user,
    connection_list_for_user,
    sync_get_for_user,
    sync_list_for_user,
    sync_runs,
)
from connectors.services import (
    connection_create,
    connection_delete,
    connection_sources,
    connection_test,
    connection_update,
    steward_require,
    sync_create,
    sync_delete,
    sync_drift_accept,
    sync_run_start,
    sync_update,
)
from core.pagination import PagePagination
from datasets.models import IngestJob
from datasets.selectors import study_get_for_user
from tenants.api_auth import principal

router = Router(tags=["connectors"])


class ConnectionIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    kind: str = Field(..., min_length=1, max_length=32)
    config: dict[str, Any] = Field(default_factory=dict)
    secret: dict[str, Any] | None = None


class ConnectionPatchIn(Schema):
    config: dict[str, Any] | None = None
    secret: dict[str, Any] | None = None


class ConnectionOut(Schema):
    id: int
    name: str
    kind: str
    config: dict[str, Any]
    secret_fields: list[str] = Field(description="Names of the secret fields that are set (values never shown).")
    created_at: datetime


class ErrorOut(Schema):
    code: str
    message: str


class TestOut(Schema):
    ok: bool
    error: ErrorOut | None = None


class SourceOut(Schema):
    name: str
    kind: str


class SourcesOut(Schema):
    items: list[SourceOut]


class KindOut(Schema):
    kind: str
    title: str
    config_fields: list[dict[str, Any]]
    secret_fields: list[dict[str, Any]]


class SyncIn(Schema):
    connection: int
    source: str = Field(..., min_length=1, max_length=500)
    dataset: str = Field(..., min_length=1, max_length=63)
    kind: Literal["demographics", "measure"] = "measure"
    schedule: str | None = Field(None, max_length=100, description="Cron expression (UTC); absent = on demand.")


class SyncPatchIn(Schema):
    schedule: str | None = Field(None, max_length=100)


class IngestRef(Schema):
    id: int
    status: str
    progress: float
    stage: str = ""
    error: ErrorOut | None = None
    version: int | None = None


class RunOut(Schema):
    id: int
    trigger: str
    status: str
    ingest: IngestRef | None
    version: int | None
    rows: int | None
    drift: dict[str, Any]
    diff: dict[str, Any]
    error: ErrorOut | None
    created_at: datetime
    finished_at: datetime | None


class SyncOut(Schema):
    id: int
    study: str
    connection: int
    connection_name: str
    source: str
    dataset: str
    kind: str
    schedule: str | None
    next_run_at: datetime | None
    columns: list[list[str]]
    drift: dict[str, Any] | None = Field(description="Schema change waiting for a steward's confirmation.")
    last_good_version: int | None
    runs: list[RunOut] = Field(default_factory=list)


class RunAccepted(Schema):
    id: int
    run: RunOut
    ingest: IngestRef


def connection_out(connection: Connection) -> dict[str, Any]:
    return {
        "id": connection.pk,
        "name": connection.name,
        "kind": connection.kind,
        "config": connection.config,
        "secret_fields": list(connection.secret_fields or []),
        "created_at": connection.created_at,
    }


def ingest_ref(job: IngestJob | None) -> dict[str, Any] | None:
    if job is None:
        return None
    return {
        "id": job.pk,
        "status": job.status,
        "progress": round(job.progress, 4),
        "stage": job.stage,
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
        "version": job.version.number if job.version_id and job.version else None,
    }


def run_out(run: SyncRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "trigger": run.trigger,
        "status": run.status,
        "ingest": ingest_ref(run.ingest),
        "version": run.version.number if run.version_id and run.version else None,
        "rows": run.rows,
        "drift": run.drift or {},
        "diff": run.diff or {},
        "error": {"code": run.error_code, "message": run.error_message} if run.error_code else None,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
    }


def sync_out(sync: Sync, *, runs: bool = False) -> dict[str, Any]:
    good = sync.last_good_version
    return {
        "id": sync.pk,
        "study": sync.study.slug,
        "connection": sync.connection_id,
        "connection_name": sync.connection.name,
        "source": sync.source,
        "dataset": sync.dataset_name,
        "kind": sync.kind,
        "schedule": sync.schedule or None,
        "next_run_at": sync.next_run_at,
        "columns": sync.columns or [],
        "drift": sync.drift or None,
        "last_good_version": good.number if good is not None else None,
        "runs": [run_out(run) for run in sync_runs(sync)] if runs else [],
    }


@router.get("/connectors", response=list[KindOut])
def connector_kinds_list(request: HttpRequest) -> list[dict[str, Any]]:
    """The connection kinds this platform offers (built-ins and installed plugins) and the fields each declares."""
    caller = principal(request)
    steward_require(caller.user, caller.tenant, "see connections")
    kinds = []
    for kind in connector_kinds():
        cls = connector_class(kind)
        kinds.append(
            {
                "kind": kind,
                "title": cls.title,
                "config_fields": [spec.as_dict() for spec in cls.config_fields],
                "secret_fields": [{**spec.as_dict(), "default": None} for spec in cls.secret_fields],
            }
        )
    return kinds


@router.get("/connections", response=list[ConnectionOut])
@paginate(PagePagination)
def connections_list(request: HttpRequest) -> list[dict[str, Any]]:
    """This workspace's connections (secrets are never returned)."""
    caller = principal(request)
    return [connection_out(c) for c in connection_list_for_user(user=caller.user, tenant=caller.tenant)]


@router.post("/connections", response={201: ConnectionOut})
def connections_create(request: HttpRequest, payload: ConnectionIn) -> Status[dict[str, Any]]:
    """Create a connection. It is tested first: a failure (e.g. `connection_failed`, `network_refused`) is 422 and
    registers nothing. The secret is write-only."""
    caller = principal(request)
    connection = connection_create(
        tenant=caller.tenant,
        actor=caller.user,
        name=payload.name,
        kind=payload.kind,
        config=payload.config,
        secret=payload.secret,
        request=request,
    )
    return Status(201, connection_out(connection))


@router.get("/connections/{connection_id}", response=ConnectionOut)
def connections_get(request: HttpRequest, connection_id: int) -> dict[str, Any]:
    caller = principal(request)
    return connection_out(connection_get_for_user(user=caller.user, tenant=caller.tenant, connection_id=connection_id))


@router.patch("/connections/{connection_id}", response=ConnectionOut)
def connections_patch(request: HttpRequest, connection_id: int, payload: ConnectionPatchIn) -> dict[str, Any]:
    """Change config fields and/or replace the secret (tested before it is kept)."""
    caller = principal(request)
    connection = connection_get_for_user(user=caller.user, tenant=caller.tenant, connection_id=connection_id)
    updated = connection_update(
        tenant=caller.tenant,
        actor=caller.user,
        connection=connection,
        config=payload.config,
        secret=payload.secret,
        request=request,
    )
    return connection_out(updated)


@router.delete("/connections/{connection_id}", response={204: None})
def connections_delete(request: HttpRequest, connection_id: int) -> Status[None]:
    caller = principal(request)
    connection = connection_get_for_user(user=caller.user, tenant=caller.tenant, connection_id=connection_id)
    connection_delete(tenant=caller.tenant, actor=caller.user, connection=connection, request=request)
    return Status(204, None)


@router.post("/connections/{connection_id}/test", response=TestOut)
def connections_test(request: HttpRequest, connection_id: int) -> dict[str, Any]:
    """Connect and authenticate now: `{"ok": true}` or `{"ok": false, "error": {"code", "message"}}`."""
    caller = principal(request)
    connection = connection_get_for_user(user=caller.user, tenant=caller.tenant, connection_id=connection_id)
    return connection_test(tenant=caller.tenant, actor=caller.user, connection=connection)


@router.get("/connections/{connection_id}/sources", response=SourcesOut)
def connections_sources(request: HttpRequest, connection_id: int) -> dict[str, Any]:
    """What the connection can pull: tables and views, files, instruments."""
    caller = principal(request)
    connection = connection_get_for_user(user=caller.user, tenant=caller.tenant, connection_id=connection_id)
    sources = connection_sources(tenant=caller.tenant, actor=caller.user, connection=connection)
    return {"items": [source.as_dict() for source in sources]}


@router.get("/studies/{study}/syncs", response=list[SyncOut])
@paginate(PagePagination)
def syncs_list(request: HttpRequest, study: str) -> list[dict[str, Any]]:
    """The study's syncs (without their runs: `GET /syncs/{id}` has them)."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    return [sync_out(s) for s in sync_list_for_user(user=caller.user, tenant=caller.tenant, study=target)]


@router.post("/studies/{study}/syncs", response={201: SyncOut})
def syncs_create(request: HttpRequest, study: str, payload: SyncIn) -> Status[dict[str, Any]]:
    """Bind a study dataset to a connection's source (run on demand, or on `schedule`, a cron expression)."""
    caller = principal(request)
    target = study_get_for_user(user=caller.user, tenant=caller.tenant, slug=study)
    connection = connection_get_for_user(user=caller.user, tenant=caller.tenant, connection_id=payload.connection)
    sync = sync_create(
        tenant=caller.tenant,
        actor=caller.user,
        study=target,
        connection=connection,
        source=payload.source,
        dataset_name=payload.dataset,
        kind=payload.kind,
        schedule=payload.schedule or "",
        request=request,
    )
    return Status(201, sync_out(sync))


@router.get("/syncs/{sync_id}", response=SyncOut)
def syncs_get(request: HttpRequest, sync_id: int) -> dict[str, Any]:
    """A sync with its runs (newest first): status, ingest, version, drift and the row diff of each."""
    caller = principal(request)
    return sync_out(sync_get_for_user(user=caller.user, tenant=caller.tenant, sync_id=sync_id), runs=True)


@router.patch("/syncs/{sync_id}", response=SyncOut)
def syncs_patch(request: HttpRequest, sync_id: int, payload: SyncPatchIn) -> dict[str, Any]:
    """Change the schedule (`null` or blank: on demand only; absent: unchanged)."""
    caller = principal(request)
    sync = sync_get_for_user(user=caller.user, tenant=caller.tenant, sync_id=sync_id)
    fields = payload.dict(exclude_unset=True)
    schedule = (fields.get("schedule") or "") if "schedule" in fields else None
    updated = sync_update(tenant=caller.tenant, actor=caller.user, sync=sync, schedule=schedule, request=request)
    return sync_out(updated, runs=True)


@router.delete("/syncs/{sync_id}", response={204: None})
def syncs_delete(request: HttpRequest, sync_id: int) -> Status[None]:
    """Stop syncing; the dataset and its versions stay."""
    caller = principal(request)
    sync = sync_get_for_user(user=caller.user, tenant=caller.tenant, sync_id=sync_id)
    sync_delete(tenant=caller.tenant, actor=caller.user, sync=sync, request=request)
    return Status(204, None)


@router.post("/syncs/{sync_id}/run", response={202: RunAccepted})
def syncs_run(request: HttpRequest, sync_id: int) -> Status[dict[str, Any]]:
    """Pull the source now: 202 with the ingest job (the same job as an upload; an unchanged source makes no new
    version). A changed column set or type stops the run (`schema_drift`) until a steward confirms it."""
    caller = principal(request)
    sync = sync_get_for_user(user=caller.user, tenant=caller.tenant, sync_id=sync_id)
    run = sync_run_start(tenant=caller.tenant, actor=caller.user, sync=sync, request=request)
    body = run_out(run)
    return Status(202, {"id": run.pk, "run": body, "ingest": body["ingest"]})


@router.post("/syncs/{sync_id}/drift/accept", response=SyncOut)
def syncs_drift_accept(request: HttpRequest, sync_id: int) -> dict[str, Any]:
    """Confirm the source's changed columns; the next run ingests them."""
    caller = principal(request)
    sync = sync_get_for_user(user=caller.user, tenant=caller.tenant, sync_id=sync_id)
    return sync_out(sync_drift_accept(tenant=caller.tenant, actor=caller.user, sync=sync, request=request), runs=True)
