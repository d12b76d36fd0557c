"""Celery tasks of the access app."""

from __future__ import annotations

from celery import shared_task
from django_tenants.utils import get_tenant_model, tenant_context

from access.services import grants_expire


@shared_task(name="access.tasks.grants_expire_all")
def grants_expire_all() -> int:
    """Beat: record (and audit) expired grants in every tenant; expiry itself is enforced at use."""
    expired = 0
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            expired += grants_expire()
    return expired
