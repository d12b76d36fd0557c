"""Suspending and resuming a workspace (platform operators only). Nothing is deleted: a suspended workspace answers
every request with 403 ``workspace_suspended`` (a page for browsers) until it is resumed."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import audit_workspace_event
from core.errors import InvalidInput
from tenants.models import Tenant, frozen_q

#: The error message of work a suspended workspace had queued (``workspace_suspended``).
WORK_OF_SUSPENDED_WORKSPACE = (
    "The workspace was suspended by the platform operators (or scheduled for deletion) before this finished; nothing "
    "was kept. Start it again once the workspace is resumed."
)


def workspace_frozen(tenant: Tenant) -> bool:
    """Whether ``tenant`` is suspended or scheduled for deletion now, read from the database (a worker's tenant
    object may be older than the suspension): its queued work is not started and its running runs are stopped, so
    a workspace suspended for abuse stops taking the workers' time from the others."""
    return Tenant.objects.filter(frozen_q(), pk=tenant.pk).exists()


def _locked(tenant: Tenant) -> Tenant:
    if tenant.is_public:
        raise InvalidInput("The platform itself cannot be suspended.", code="invalid_workspace")
    return Tenant.objects.select_for_update().get(pk=tenant.pk)


def tenant_suspend(
    *, tenant: Tenant, actor: Any = None, reason: str = "", request: HttpRequest | None = None
) -> Tenant:
    """Suspend ``tenant`` (idempotent); audited in the platform's and the workspace's chains."""
    with transaction.atomic():
        locked = _locked(tenant)
        if locked.suspended_at is None:
            locked.suspended_at = timezone.now()
            locked.suspended_reason = reason.strip()[:300]
            locked.save(update_fields=["suspended_at", "suspended_reason"])
            audit_workspace_event(
                locked,
                action="tenant.suspended",
                actor=actor,
                request=request,
                details={"reason": locked.suspended_reason},
            )
    tenant.suspended_at, tenant.suspended_reason = locked.suspended_at, locked.suspended_reason
    return locked


def tenant_resume(*, tenant: Tenant, actor: Any = None, request: HttpRequest | None = None) -> Tenant:
    """Resume ``tenant`` (idempotent); a scheduled deletion is cancelled too. Audited in both chains."""
    with transaction.atomic():
        locked = _locked(tenant)
        if locked.suspended_at is not None or locked.delete_after is not None:
            details = {"deletion_cancelled": locked.delete_after is not None}
            locked.suspended_at, locked.suspended_reason, locked.delete_after = None, "", None
            locked.save(update_fields=["suspended_at", "suspended_reason", "delete_after"])
            audit_workspace_event(locked, action="tenant.resumed", actor=actor, request=request, details=details)
    tenant.suspended_at, tenant.suspended_reason, tenant.delete_after = None, "", None
    return locked
