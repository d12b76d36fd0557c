"""``audit_verify [--tenant SLUG]``: recompute the audit hash chain(s) and name the first bad event."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from audit.verification import audit_chain_verify
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Verify the append-only audit chain of one tenant (or of every schema); exits non-zero if tampered."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="Tenant slug (default: the platform schema and every tenant).")

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Tenant.objects.all().order_by("schema_name")
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        broken = []
        for tenant in tenants:
            with schema_context(tenant.schema_name):
                report = audit_chain_verify()
            if report.ok:
                self.stdout.write(f"{tenant.slug}: ok ({report.events} events)")
            else:
                broken.append(tenant.slug)
                self.stdout.write(
                    f"{tenant.slug}: BROKEN at event {report.first_bad_event} ({report.reason}); "
                    f"{report.events} events before it verified"
                )
        if broken:
            raise CommandError(f"Audit chain broken in: {', '.join(broken)}")
