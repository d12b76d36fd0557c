"""Deleting a workspace with a grace period: scheduling suspends it at once; after ``workspace_delete_grace_days``
the schema and its files (local disk or object storage) are removed for good (``workspaces_purge_due``, hourly).
Resuming cancels the deletion."""

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
from django_tenants.utils import tenant_context

from audit.services import audit_event_record, audit_workspace_event
from core.config import config_get
from core.errors import InvalidInput
from datasets.models import DatasetVersion
from datasets.storage import cache_dir, tenant_participant_stores_remove
from harmonization.models import FederatedRun
from portal.storage_purge import PurgeReport, StoragePurgeError, storage_prefix_purge
from queries.models import QueryRun
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
        audit_workspace_event(
            locked,
            action="tenant.deletion_scheduled",
            actor=actor,
            request=request,
            details={"delete_after": locked.delete_after.isoformat(), "grace_days": days},
        )
    tenant.delete_after = locked.delete_after
    return locked


def workspace_storage_prefix(tenant: Tenant) -> str:
    """The storage folder of every file of ``tenant`` (uploads, versions, run and federated results)."""
    return f"tenants/{tenant.schema_name}/"


def workspace_purge(*, tenant: Tenant) -> PurgeReport:
    """Remove a workspace whose grace period is over: its files (local disk or bucket), its schema and its public
    rows. The files go first: when the storage fails, nothing else is removed and the next run tries again."""
    if tenant.is_public or tenant.delete_after is None or tenant.delete_after > timezone.now():
        raise InvalidInput("Only a workspace past its scheduled deletion can be purged.", code="not_due")
    slug, schema, prefix = tenant.slug, tenant.schema_name, workspace_storage_prefix(tenant)
    cached = _cached_names(tenant)
    removed = storage_prefix_purge(prefix)
    with transaction.atomic():
        audit_event_record(
            action="tenant.purged",
            target_type="tenants.tenant",
            target_id=str(tenant.pk),
            target_repr=slug,
            details={"slug": slug, "files": removed.details()},
            schema_name="public",
        )
        tenant.auto_drop_schema = True
        tenant.delete(force_drop=True)
    # A task of the workspace still running while it was removed may have written a file since: sweep once more.
    late = storage_prefix_purge(prefix)
    shutil.rmtree(Path(settings.MEDIA_ROOT) / "tenants" / schema, ignore_errors=True)
    evicted = _cache_evict(cached)
    tenant_participant_stores_remove(schema)
    if late.objects:
        audit_event_record(
            action="tenant.purge_swept",
            target_type="tenants.tenant",
            target_id=str(tenant.pk),
            target_repr=slug,
            details={"slug": slug, "files": late.details()},
            schema_name="public",
        )
    logger.info(
        "workspace %s purged (%d files, %d bytes; %d local cache copies)",
        slug,
        removed.objects + late.objects,
        removed.bytes,
        evicted,
    )
    return removed + late


def _cached_names(tenant: Tenant) -> set[str]:
    """Names in the local cache that copies of the workspace's version and result files would have."""
    with tenant_context(tenant):
        shas = set(DatasetVersion.all_objects.values_list("parquet_sha256", flat=True))
        shas |= set(QueryRun.objects.values_list("result_sha256", flat=True))
        shas |= set(FederatedRun.objects.values_list("result_sha256", flat=True))
    return {f"{sha}.parquet" for sha in shas if sha}


def _cache_evict(names: set[str]) -> int:
    """Delete this process's cached copies (another workspace with identical bytes fetches them again)."""
    evicted = 0
    for name in names:
        path = cache_dir() / name
        if path.exists():
            path.unlink(missing_ok=True)
            evicted += 1
    return evicted


def workspaces_purge_due() -> list[str]:
    """Purge every workspace whose grace period is over; returns their slugs. One whose files could not be removed
    stays (suspended, still due) for the next run; the others are purged."""
    purged = []
    for tenant in Tenant.objects.filter(delete_after__lte=timezone.now()).exclude(schema_name="public"):
        try:
            workspace_purge(tenant=tenant)
        except StoragePurgeError as error:
            logger.exception("workspace %s not purged: its files could not be removed", tenant.slug)
            audit_event_record(
                action="tenant.purge_failed",
                target_type="tenants.tenant",
                target_id=str(tenant.pk),
                target_repr=tenant.slug,
                details={"slug": tenant.slug, "reason": str(error)},
                schema_name="public",
            )
            continue
        purged.append(tenant.slug)
    return purged
