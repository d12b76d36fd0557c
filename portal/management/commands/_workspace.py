"""Shared by the operator commands: find a workspace by slug or fail clearly."""

from __future__ import annotations

from django.core.management.base import CommandError

from tenants.models import Tenant


def workspace_by_slug(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).exclude(schema_name="public").first()
    if tenant is None:
        raise CommandError(f"No workspace with slug {slug!r}.")
    return tenant
