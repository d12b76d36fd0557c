"""Writes and remote calls of connections and syncs (stewards and owners; audited in the same transaction)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import audit_event_record
from connectors.core import Connector, ConnectorError, Source, connector_class
from connectors.models import Connection, Sync, SyncRun, SyncRunStatus
from connectors.policy import connect_context
from connectors.schedule import next_run, schedule_clean
from connectors.vault import secret_decrypt, secret_encrypt
from core.errors import ApiError, Conflict, InvalidInput
from datasets.models import Dataset, DatasetKind, Study
from datasets.services import ingest_job_reserve, ingest_target_check
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role

STRICT_TLS = "verify-full"

logger = logging.getLogger(__name__)


class ConnectionFailed(ApiError):
    """The remote end refused or could not be reached (422: the steward fixes the config or secret)."""

    def __init__(self, error: ConnectorError) -> None:
        super().__init__(422, error.code, error.message, error.details)


def steward_require(actor: Any, tenant: Tenant, action: str) -> None:
    """Connections and syncs are managed by stewards and owners (``actor=None``: the scheduler)."""
    if actor is not None:
        role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action=action)


def connector_build(kind: str, config: dict[str, Any], secret: dict[str, Any], progress: Any = None) -> Connector:
    """A connector instance for ``kind`` with validated fields (422 naming the field otherwise)."""
    try:
        return connector_class(kind)(config, secret, connect_context(progress))
    except ConnectorError as exc:
        raise InvalidInput(exc.message, code=exc.code) from None


def connector_for(connection: Connection, progress: Any = None) -> Connector:
    return connector_build(connection.kind, connection.config, secret_decrypt(connection.secret_token), progress)


def _remote(call: Any) -> Any:
    """Run a remote call; a connector's failure becomes a 422 with its code (no secret, no path in it), and so does
    an answer the connector could not read (a service answering in an unexpected form)."""
    try:
        return call()
    except ConnectorError as exc:
        raise ConnectionFailed(exc) from None
    except (TypeError, KeyError, IndexError, AttributeError, ValueError):
        logger.warning("a connector could not read the service's answer", exc_info=True)
        unexpected = ConnectorError("connection_failed", "The service answered in a form this connector cannot read.")
        raise ConnectionFailed(unexpected) from None


def _name_clean(name: Any) -> str:
    text = str(name or "").strip()
    if not text or len(text) > 100:
        raise InvalidInput("A connection needs a name of 1-100 characters.", code="invalid_name")
    return text


def connection_create(
    *,
    tenant: Tenant,
    actor: Any,
    name: str,
    kind: str,
    config: dict[str, Any],
    secret: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> Connection:
    """Test the connection, then keep it (secret encrypted). A failing test registers nothing (422, its code)."""
    steward_require(actor, tenant, "manage connections")
    name = _name_clean(name)
    connector = connector_build(kind, config or {}, secret or {})
    if Connection.objects.filter(name=name).exists():
        raise Conflict(f"A connection {name!r} already exists.", code="connection_exists")
    _remote(connector.test)
    cleaned = {key: value for key, value in connector.config.items() if value not in (None, "")}
    secret_set = {key: value for key, value in connector.secret.items() if value not in (None, "")}
    try:
        with transaction.atomic():
            connection = Connection.objects.create(
                name=name,
                kind=kind,
                config=cleaned,
                secret_token=secret_encrypt(secret_set),
                secret_fields=sorted(secret_set),
                created_by=actor,
            )
            details = {"name": name, "kind": kind, "config": cleaned, "secret_fields": sorted(secret_set)}
            audit_event_record(
                action="connection.created", actor=actor, request=request, target=connection, details=details
            )
            _tls_audit(connection, None, actor, request)
    except IntegrityError:
        raise Conflict(f"A connection {name!r} already exists.", code="connection_exists") from None
    return connection


def _tls_audit(connection: Connection, before: str | None, actor: Any, request: HttpRequest | None) -> None:
    """A database connection below full TLS verification is recorded as its own audit event."""
    mode = connection.config.get("sslmode")
    if mode and mode != STRICT_TLS and mode != before:
        audit_event_record(
            action="connection.tls_lowered",
            actor=actor,
            request=request,
            target=connection,
            details={"name": connection.name, "sslmode": mode, "from": before or STRICT_TLS},
        )


def connection_update(
    *,
    tenant: Tenant,
    actor: Any,
    connection: Connection,
    config: dict[str, Any] | None = None,
    secret: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> Connection:
    """Change the config and/or replace the secret; tested before it is kept."""
    steward_require(actor, tenant, "manage connections")
    new_config = {**connection.config, **(config or {})}
    new_secret = secret if secret is not None else secret_decrypt(connection.secret_token)
    connector = connector_build(connection.kind, new_config, new_secret)
    _remote(connector.test)
    before = connection.config.get("sslmode")
    cleaned = {key: value for key, value in connector.config.items() if value not in (None, "")}
    secret_set = {key: value for key, value in connector.secret.items() if value not in (None, "")}
    with transaction.atomic():
        connection.config = cleaned
        connection.secret_token = secret_encrypt(secret_set)
        connection.secret_fields = sorted(secret_set)
        connection.save()
        details = {"name": connection.name, "config": cleaned, "secret_replaced": secret is not None}
        audit_event_record(
            action="connection.updated", actor=actor, request=request, target=connection, details=details
        )
        _tls_audit(connection, before, actor, request)
    return connection


def connection_delete(
    *, tenant: Tenant, actor: Any, connection: Connection, request: HttpRequest | None = None
) -> None:
    """Remove a connection no sync uses (409 ``connection_in_use`` otherwise)."""
    steward_require(actor, tenant, "manage connections")
    if connection.syncs.exists():
        raise Conflict("Syncs use this connection; delete them first.", code="connection_in_use")
    with transaction.atomic():
        audit_event_record(
            action="connection.deleted",
            actor=actor,
            request=request,
            target=connection,
            details={"name": connection.name, "kind": connection.kind},
        )
        connection.delete()


def connection_test(*, tenant: Tenant, actor: Any, connection: Connection) -> dict[str, Any]:
    """``{"ok": true}`` or ``{"ok": false, "error": {"code", "message"}}``."""
    steward_require(actor, tenant, "test connections")
    try:
        connector_for(connection).test()
    except ConnectorError as exc:
        return {"ok": False, "error": exc.as_dict()}
    except ApiError as exc:
        return {"ok": False, "error": {"code": exc.code, "message": exc.message}}
    return {"ok": True}


def connection_sources(*, tenant: Tenant, actor: Any, connection: Connection) -> list[Source]:
    """What the connection can pull now (422 with the connector's code when it cannot be reached)."""
    steward_require(actor, tenant, "browse connections")
    connector = connector_for(connection)
    return list(_remote(connector.sources))


def sync_create(
    *,
    tenant: Tenant,
    actor: Any,
    study: Study,
    connection: Connection,
    source: str,
    dataset_name: str,
    kind: str,
    schedule: str = "",
    request: HttpRequest | None = None,
) -> Sync:
    """Bind ``dataset_name`` of ``study`` to a source (checked to exist now)."""
    steward_require(actor, tenant, "manage syncs")
    if kind not in DatasetKind.values:
        raise InvalidInput(f"kind must be one of {', '.join(DatasetKind.values)}.", code="invalid_kind")
    ingest_target_check(study=study, dataset_name=dataset_name, kind=kind, now=False)
    cron = schedule_clean(schedule)
    if Sync.objects.filter(study=study, dataset_name=dataset_name).exists():
        raise Conflict(f"The dataset {dataset_name!r} already has a sync.", code="sync_exists")
    connector = connector_for(connection)
    _remote(lambda: connector.source_require(str(source or "")))
    with transaction.atomic():
        sync = Sync.objects.create(
            study=study,
            connection=connection,
            source=source,
            dataset_name=dataset_name,
            kind=kind,
            schedule=cron,
            next_run_at=next_run(cron, timezone.now()) if cron else None,
            created_by=actor,
        )
        details = {
            "study": study.slug,
            "dataset": dataset_name,
            "connection": connection.name,
            "source": source,
            "schedule": cron,
        }
        audit_event_record(action="sync.created", actor=actor, request=request, target=sync, details=details)
    return sync


def sync_update(
    *, tenant: Tenant, actor: Any, sync: Sync, schedule: str | None = None, request: HttpRequest | None = None
) -> Sync:
    """Change a sync's schedule (blank: on demand only)."""
    steward_require(actor, tenant, "manage syncs")
    if schedule is not None:
        cron = schedule_clean(schedule)
        with transaction.atomic():
            before = sync.schedule
            sync.schedule = cron
            sync.next_run_at = next_run(cron, timezone.now()) if cron else None
            sync.save(update_fields=["schedule", "next_run_at"])
            audit_event_record(
                action="sync.updated",
                actor=actor,
                request=request,
                target=sync,
                details={"dataset": sync.dataset_name, "schedule": {"from": before, "to": cron}},
            )
    return sync


def sync_delete(*, tenant: Tenant, actor: Any, sync: Sync, request: HttpRequest | None = None) -> None:
    """Stop syncing (the dataset and its versions stay)."""
    steward_require(actor, tenant, "manage syncs")
    with transaction.atomic():
        audit_event_record(
            action="sync.deleted",
            actor=actor,
            request=request,
            target=sync,
            details={"study": sync.study.slug, "dataset": sync.dataset_name, "source": sync.source},
        )
        sync.delete()


def sync_run_start(
    *, tenant: Tenant, actor: Any, sync: Sync, trigger: str = "manual", request: HttpRequest | None = None
) -> SyncRun:
    """Queue a pull: an ingest job is reserved now (202 with it); the worker pulls, checks drift and ingests."""
    from connectors.tasks import sync_run_enqueue

    steward_require(actor, tenant, "run syncs")
    if sync.runs.filter(status__in=[SyncRunStatus.QUEUED, SyncRunStatus.RUNNING]).exists():
        raise Conflict("This sync is already running; wait for it to finish.", code="sync_running")
    with transaction.atomic():
        job = ingest_job_reserve(
            tenant=tenant,
            actor=actor,
            study=sync.study,
            dataset_name=sync.dataset_name,
            kind=sync.kind,
            original_filename=f"{sync.connection.name}:{sync.source}"[:255],
            note=f"Synced from {sync.connection.name} ({sync.source}).",
            request=request,
        )
        run = SyncRun.objects.create(sync=sync, trigger=trigger, ingest=job, created_by=actor)
        audit_event_record(
            action="sync.run_started",
            actor=actor,
            request=request,
            target=sync,
            details={"dataset": sync.dataset_name, "source": sync.source, "run": run.pk, "trigger": trigger},
        )
        transaction.on_commit(lambda: sync_run_enqueue(run.pk))
    return run


def sync_drift_accept(*, tenant: Tenant, actor: Any, sync: Sync, request: HttpRequest | None = None) -> Sync:
    """A steward confirms the source's new columns: the next run ingests them."""
    steward_require(actor, tenant, "confirm schema changes")
    if not sync.drift:
        raise Conflict("This sync has no schema change waiting for confirmation.", code="no_drift")
    with transaction.atomic():
        drift = sync.drift
        sync.columns = drift.get("columns", [])
        sync.drift = {}
        sync.save(update_fields=["columns", "drift"])
        audit_event_record(
            action="sync.drift_accepted",
            actor=actor,
            request=request,
            target=sync,
            details={
                "dataset": sync.dataset_name,
                "added": drift.get("added"),
                "removed": drift.get("removed"),
                "retyped": drift.get("retyped"),
            },
        )
    return sync


def dataset_for(sync: Sync) -> Dataset | None:
    return Dataset.objects.filter(study=sync.study, name=sync.dataset_name).first()
