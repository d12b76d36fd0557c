"""Deleting a workspace with a grace period: scheduling suspends it at once; after ``workspace_delete_grace_days``
the schema and its files are removed for good (``workspaces_purge_due``, hourly). Resuming cancels the deletion."""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import audit_event_record
from core.config import config_get
from core.errors import InvalidInput
from datasets.storage import tenant_participant_stores_remove
from tenants.models import Tenant
from tenants.suspension import tenant_suspend

logger = logging.getLogger(__name__)


def workspace_delete_schedule(
    *, tenant: Tenant, actor: Any = None, request: HttpRequest | None = None, grace_days: int | None = None
) -> Tenant:
    """Suspend ``tenant`` and schedule its removal after the grace period (audited in both chains)."""
    if tenant.is_public:
        raise InvalidInput("The platform itself cannot be deleted.", code="invalid_workspace")
    days = int(config_get("workspace_delete_grace_days") if grace_days is None else grace_days)
    if days < 0:
        raise InvalidInput("The grace period cannot be negative.", code="invalid_grace")
    with transaction.atomic():
        tenant_suspend(tenant=tenant, actor=actor, reason="scheduled for deletion", request=request)
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        locked.delete_after = timezone.now() + timedelta(days=days)
        locked.save(update_fields=["delete_after"])
        for schema in ("public", locked.schema_name):
            audit_event_record(
                action="tenant.deletion_scheduled",
                actor=actor,
                request=request,
                target=locked,
                details={"delete_after": locked.delete_after.isoformat(), "grace_days": days},
                schema_name=schema,
            )
    tenant.delete_after = locked.delete_after
    return locked


def workspace_purge(*, tenant: Tenant) -> None:
    """Remove a workspace whose grace period is over: its schema, its files and its public rows."""
    if tenant.is_public or tenant.delete_after is None or tenant.delete_after > timezone.now():
        raise InvalidInput("Only a workspace past its scheduled deletion can be purged.", code="not_due")
    slug, schema = tenant.slug, tenant.schema_name
    files = Path(settings.MEDIA_ROOT) / "tenants" / schema
    with transaction.atomic():
        audit_event_record(
            action="tenant.purged",
            target_type="tenants.tenant",
            target_id=str(tenant.pk),
            target_repr=slug,
            details={"slug": slug},
            schema_name="public",
        )
        tenant.auto_drop_schema = True
        tenant.delete(force_drop=True)
    shutil.rmtree(files, ignore_errors=True)
    tenant_participant_stores_remove(schema)
    logger.info("workspace %s purged", slug)


def workspaces_purge_due() -> list[str]:
    """Purge every workspace whose grace period is over; returns their slugs."""
    purged = []
    for tenant in Tenant.objects.filter(delete_after__lte=timezone.now()).exclude(schema_name="public"):
        workspace_purge(tenant=tenant)
        purged.append(tenant.slug)
    return purged
