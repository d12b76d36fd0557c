"""Console pages of connections and syncs (stewards and owners): the forms are parsed here, the services decide."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from connectors.core import ConnectorError, connector_class, connector_kinds
from connectors.models import SyncRunStatus
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
    sync_create,
    sync_drift_accept,
    sync_run_start,
)
from core.errors import ApiError
from datasets.models import DatasetKind
from datasets.selectors import study_get_for_user, study_list_for_user
from tenants.page_kit import request_tenant, role_required
from tenants.roles import Role

steward_required = role_required(Role.STEWARD, "Connections and syncs are for stewards and owners.")


def _run(request: HttpRequest, action: Callable[[], Any], success: str) -> Any:
    """Run a service call; its error (or ``success``) becomes a flash message. Returns the result or None."""
    try:
        result = action()
    except ApiError as exc:
        messages.error(request, exc.message)
        return None
    messages.success(request, success)
    return result


def _kinds() -> list[dict[str, Any]]:
    kinds = []
    for kind in connector_kinds():
        try:
            cls = connector_class(kind)
        except ConnectorError:
            continue
        kinds.append({"kind": kind, "title": cls.title, "config": cls.config_fields, "secret": cls.secret_fields})
    return kinds


def _fields(request: HttpRequest, prefix: str, specs: Any) -> dict[str, Any]:
    """Posted ``<prefix><name>`` values of declared fields (blank = not given); numbers stay text until checked."""
    values: dict[str, Any] = {}
    for spec in specs:
        raw = request.POST.get(f"{prefix}{spec.name}", "")
        if spec.kind == "boolean":
            values[spec.name] = raw == "on"
        elif raw.strip():
            values[spec.name] = raw.strip() if spec.kind != "text" or prefix == "config-" else raw
    return values


@require_GET
@steward_required
def connections_page(request: HttpRequest) -> HttpResponse:
    """The workspace's connections and a form for a new one (fields as the chosen kind declares them)."""
    tenant = request_tenant(request)
    connections = list(connection_list_for_user(user=request.user, tenant=tenant))
    kinds = _kinds()
    chosen = request.GET.get("kind", "postgresql")
    selected = next((kind for kind in kinds if kind["kind"] == chosen), kinds[0])
    context = {"tab": "connections", "connections": connections, "kinds": kinds, "selected": selected}
    return render(request, "connectors/connections.html", context)


@require_POST
@steward_required
def connection_create_view(request: HttpRequest) -> HttpResponse:
    tenant = request_tenant(request)
    kind = request.POST.get("kind", "")
    try:
        cls = connector_class(kind)
    except ConnectorError as exc:
        messages.error(request, exc.message)
        return redirect("connections_page")
    created = _run(
        request,
        lambda: connection_create(
            tenant=tenant,
            actor=request.user,
            name=request.POST.get("name", ""),
            kind=kind,
            config=_fields(request, "config-", cls.config_fields),
            secret=_fields(request, "secret-", cls.secret_fields),
            request=request,
        ),
        "Connection tested and saved.",
    )
    if created is None:
        return redirect(f"{_url('connections_page')}?kind={kind}")
    return redirect("connection_page", connection_id=created.pk)


def _url(name: str, **kwargs: Any) -> str:
    from django.urls import reverse

    return reverse(name, kwargs=kwargs or None)


@require_GET
@steward_required
def connection_page(request: HttpRequest, connection_id: int) -> HttpResponse:
    """One connection: its config (never its secret), test button, the source picker and its syncs."""
    tenant = request_tenant(request)
    connection = connection_get_for_user(user=request.user, tenant=tenant, connection_id=connection_id)
    sources: list[Any] = []
    sources_error = ""
    if request.GET.get("sources"):
        try:
            sources = connection_sources(tenant=tenant, actor=request.user, connection=connection)
        except ApiError as exc:
            sources_error = exc.message
    context = {
        "tab": "connections",
        "connection": connection,
        "sources": sources,
        "sources_error": sources_error,
        "studies": study_list_for_user(user=request.user, tenant=tenant),
        "dataset_kinds": DatasetKind.choices,
        "syncs": sync_list_for_user(user=request.user, tenant=tenant).filter(connection=connection),
        "test": request.session.pop(f"connection-test-{connection.pk}", None),
    }
    return render(request, "connectors/connection.html", context)


@require_POST
@steward_required
def connection_test_view(request: HttpRequest, connection_id: int) -> HttpResponse:
    tenant = request_tenant(request)
    connection = connection_get_for_user(user=request.user, tenant=tenant, connection_id=connection_id)
    result = connection_test(tenant=tenant, actor=request.user, connection=connection)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "connectors/_test_result.html", {"test": result})
    request.session[f"connection-test-{connection.pk}"] = result
    return redirect("connection_page", connection_id=connection.pk)


@require_POST
@steward_required
def connection_delete_view(request: HttpRequest, connection_id: int) -> HttpResponse:
    tenant = request_tenant(request)
    connection = connection_get_for_user(user=request.user, tenant=tenant, connection_id=connection_id)
    name = connection.name

    def delete() -> bool:
        connection_delete(tenant=tenant, actor=request.user, connection=connection, request=request)
        return True

    done = _run(request, delete, f"Connection {name} deleted.")
    return redirect("connections_page") if done else redirect("connection_page", connection_id=connection_id)


@require_POST
@steward_required
def sync_create_view(request: HttpRequest, connection_id: int) -> HttpResponse:
    tenant = request_tenant(request)
    connection = connection_get_for_user(user=request.user, tenant=tenant, connection_id=connection_id)
    try:
        study = study_get_for_user(user=request.user, tenant=tenant, slug=request.POST.get("study", ""))
    except ApiError as exc:
        messages.error(request, exc.message)
        return redirect("connection_page", connection_id=connection_id)
    created = _run(
        request,
        lambda: sync_create(
            tenant=tenant,
            actor=request.user,
            study=study,
            connection=connection,
            source=request.POST.get("source", ""),
            dataset_name=request.POST.get("dataset", "").strip(),
            kind=request.POST.get("kind", ""),
            schedule=request.POST.get("schedule", ""),
            request=request,
        ),
        "Sync created. Run it now or wait for its schedule.",
    )
    if created is None:
        return redirect(f"{_url('connection_page', connection_id=connection_id)}?sources=1")
    return redirect("sync_page", sync_id=created.pk)


@require_GET
@steward_required
def syncs_page(request: HttpRequest) -> HttpResponse:
    """Every sync of the workspace with its latest run."""
    tenant = request_tenant(request)
    syncs = list(sync_list_for_user(user=request.user, tenant=tenant))
    for sync in syncs:
        sync.latest_run = sync.runs.select_related("version").order_by("-created_at", "-pk").first()  # type: ignore[attr-defined]
    return render(request, "connectors/syncs.html", {"tab": "syncs", "syncs": syncs})


@require_GET
@steward_required
def sync_page(request: HttpRequest, sync_id: int) -> HttpResponse:
    """One sync: its source, schedule, pending schema change and run history."""
    tenant = request_tenant(request)
    sync = sync_get_for_user(user=request.user, tenant=tenant, sync_id=sync_id)
    runs = sync_runs(sync)
    running = any(run.status in {SyncRunStatus.QUEUED, SyncRunStatus.RUNNING} for run in runs)
    return render(request, "connectors/sync.html", {"tab": "syncs", "sync": sync, "runs": runs, "running": running})


@require_POST
@steward_required
def sync_run_view(request: HttpRequest, sync_id: int) -> HttpResponse:
    tenant = request_tenant(request)
    sync = sync_get_for_user(user=request.user, tenant=tenant, sync_id=sync_id)
    _run(
        request, lambda: sync_run_start(tenant=tenant, actor=request.user, sync=sync, request=request), "Sync started."
    )
    return redirect("sync_page", sync_id=sync.pk)


@require_POST
@steward_required
def sync_drift_accept_view(request: HttpRequest, sync_id: int) -> HttpResponse:
    tenant = request_tenant(request)
    sync = sync_get_for_user(user=request.user, tenant=tenant, sync_id=sync_id)
    _run(
        request,
        lambda: sync_drift_accept(tenant=tenant, actor=request.user, sync=sync, request=request),
        "Schema change confirmed: the next run ingests the new columns.",
    )
    return redirect("sync_page", sync_id=sync.pk)
