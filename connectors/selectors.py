"""Reads of connections and syncs: stewards and owners only (404 for non-members, 403 for lower roles)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from connectors.models import Connection, Sync, SyncRun
from core.errors import NotFound
from datasets.models import Study
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role


def _steward(user: Any, tenant: Tenant) -> None:
    role_require(user=user, tenant=tenant, minimum=Role.STEWARD, action="see connections and syncs")


def connection_list_for_user(*, user: Any, tenant: Tenant) -> QuerySet[Connection]:
    _steward(user, tenant)
    return Connection.objects.order_by("name")


def connection_get_for_user(*, user: Any, tenant: Tenant, connection_id: int) -> Connection:
    connection = connection_list_for_user(user=user, tenant=tenant).filter(pk=connection_id).first()
    if connection is None:
        raise NotFound("No such connection.")
    return connection


def sync_list_for_user(*, user: Any, tenant: Tenant, study: Study | None = None) -> QuerySet[Sync]:
    _steward(user, tenant)
    syncs = Sync.objects.select_related("study", "connection", "last_good_version").order_by(
        "study__slug", "dataset_name"
    )
    return syncs.filter(study=study) if study is not None else syncs


def sync_get_for_user(*, user: Any, tenant: Tenant, sync_id: int) -> Sync:
    sync = sync_list_for_user(user=user, tenant=tenant).filter(pk=sync_id).first()
    if sync is None:
        raise NotFound("No such sync.")
    return sync


def sync_runs(sync: Sync, limit: int = 50) -> list[SyncRun]:
    """The sync's latest runs, newest first, with their ingest jobs and versions."""
    return list(sync.runs.select_related("ingest", "version").order_by("-created_at", "-pk")[:limit])
