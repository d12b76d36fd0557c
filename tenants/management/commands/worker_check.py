"""``worker_check --tenant SLUG``: proves a Celery worker runs tasks in that tenant's schema."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from tenants.models import Tenant
from tenants.tasks import tenant_worker_check


class Command(BaseCommand):
    help = "Send a task from a tenant's context and print what the worker saw."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--timeout", type=float, default=30.0)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        with tenant_context(tenant):
            result = tenant_worker_check.delay()
        try:
            seen = result.get(timeout=options["timeout"])
        except Exception as exc:
            raise CommandError(f"No worker answered within {options['timeout']} s ({type(exc).__name__}).") from exc
        self.stdout.write(json.dumps(seen, indent=2))
        if seen.get("schema") != tenant.schema_name:
            raise CommandError(f"The worker ran in schema {seen.get('schema')!r}, expected {tenant.schema_name!r}.")
