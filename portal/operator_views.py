"""The operator console on the platform host (platform staff only): workspaces with their usage and quotas, the
health of services and queues, suspend/resume, deletion with a grace period, and the full export archive."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApiError
from portal.deletion import workspace_delete_schedule
from portal.export import workspace_export
from portal.operator import workspace_quota_set
from portal.usage import quota_states_now, usage_now
from tenants.models import Membership, Tenant
from tenants.suspension import tenant_resume, tenant_suspend

View = Callable[..., HttpResponseBase]


def staff_required(view: View) -> View:
    """Platform staff on the platform host only; others are sent to sign in or get a 403 page."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            message = "The operator console is for platform staff."
            return render(request, "errors/403.html", {"message": message}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _workspace(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).exclude(schema_name="public").first()
    if tenant is None:
        raise Http404
    return tenant


def _queues(collect: Callable[[], Iterable[Any]] | None) -> list[tuple[str, float]]:
    if collect is None:
        return []
    rows = []
    for family in collect():
        for sample in family.samples:
            label = sample.labels.get("queue") or "held by workers (unacknowledged)"
            rows.append((label, sample.value))
    return rows


@require_GET
@staff_required
def operator_console(
    request: HttpRequest,
    health: Callable[[], tuple[int, dict[str, Any]]] | None = None,
    queues: Callable[[], Iterable[Any]] | None = None,
) -> HttpResponse:
    """Every workspace with its state, members, storage and quotas; the services' health and queue depths."""
    rows = []
    tenants = Tenant.objects.exclude(schema_name="public").prefetch_related("domains").order_by("name")
    owners: dict[int, list[str]] = {}
    for membership in Membership.objects.filter(role="owner").select_related("user"):
        owners.setdefault(membership.tenant_id, []).append(membership.user.email)
    for tenant in tenants:
        now = usage_now(tenant)
        rows.append(
            {"tenant": tenant, "now": now, "quotas": quota_states_now(tenant, now), "owners": owners.get(tenant.pk, [])}
        )
    status, body = health() if health is not None else (200, {"status": "unknown", "checks": {}})
    context = {"rows": rows, "health": body, "health_ok": status == 200, "queues": _queues(queues)}
    return render(request, "portal/operator/console.html", context)


@require_POST
@staff_required
def operator_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    """suspend, resume (also cancels a deletion), delete (schedules it after the grace period) or quota."""
    tenant = _workspace(slug)
    try:
        if action == "suspend":
            tenant_suspend(tenant=tenant, actor=request.user, reason=request.POST.get("reason", ""), request=request)
            messages.success(request, f"{tenant.name} is suspended.")
        elif action == "resume":
            tenant_resume(tenant=tenant, actor=request.user, request=request)
            messages.success(request, f"{tenant.name} is resumed.")
        elif action == "delete":
            if request.POST.get("confirm", "").strip() != tenant.slug:
                messages.error(request, f"Type the workspace's address ({tenant.slug}) to confirm its deletion.")
                return redirect("operator_console")
            scheduled = workspace_delete_schedule(tenant=tenant, actor=request.user, request=request)
            messages.success(
                request,
                f"{tenant.name} is suspended and will be deleted after {scheduled.delete_after:%Y-%m-%d %H:%M} UTC "
                "unless it is resumed.",
            )
        elif action == "quota":
            changes: dict[str, int | None] = {}
            for key in ("storage_bytes", "members", "runs_per_day"):
                raw = request.POST.get(key, "").strip()
                if raw.lower() in {"", "none"}:
                    changes[key] = None
                elif raw.isdigit():
                    changes[key] = int(raw)
                else:
                    messages.error(request, f"The {key.replace('_', ' ')} quota must be a whole number or empty.")
                    return redirect("operator_console")
            workspace_quota_set(tenant=tenant, changes=changes, actor=request.user, request=request)
            messages.success(request, f"The quotas of {tenant.name} are saved.")
        else:
            raise Http404
    except ApiError as exc:
        messages.error(request, exc.message)
    return redirect("operator_console")


@require_GET
@staff_required
def operator_export(request: HttpRequest, slug: str) -> FileResponse:
    """Download the full export archive of a workspace (written to scratch space, removed once sent)."""
    tenant = _workspace(slug)
    scratch = Path(getattr(settings, "BDT_WORK_DIR", tempfile.gettempdir()))
    scratch.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="export-", dir=scratch)) / f"{tenant.slug}.zip"
    workspace_export(tenant=tenant, out=out, actor=request.user)
    handle = open(out, "rb")  # noqa: SIM115 - FileResponse closes it
    out.unlink()
    out.parent.rmdir()
    name = f"{tenant.slug}-{timezone.now():%Y%m%d-%H%M}.zip"
    return FileResponse(handle, as_attachment=True, filename=name, content_type="application/zip")
