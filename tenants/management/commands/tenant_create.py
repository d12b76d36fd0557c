"""``tenant_create SLUG --name NAME --domain HOST [--owner EMAIL] [--kind lab|consortium]``.

A tenant schema and its domain."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApiError
from tenants.models import WorkspaceKind
from tenants.services import public_tenant_ensure, tenant_create


class Command(BaseCommand):
    help = "Create a tenant (schema + domain); idempotent for the same arguments."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Short name, e.g. lab-a (lower-case letters, digits, hyphens).")
        parser.add_argument("--name", required=True, help="Display name, e.g. 'Memory Lab'.")
        parser.add_argument("--domain", required=True, help="Host name the tenant answers on, e.g. lab-a.localhost.")
        parser.add_argument("--owner", help="E-mail of the owner (created without a password if new).")
        parser.add_argument(
            "--kind",
            choices=WorkspaceKind.values,
            default=WorkspaceKind.LAB,
            help="lab (default) or consortium (analysts start at the metadata level).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        public_tenant_ensure()
        try:
            result = tenant_create(
                slug=options["slug"],
                name=options["name"],
                domain=options["domain"],
                owner_email=options["owner"],
                kind=options["kind"],
            )
        except ApiError as exc:
            raise CommandError(exc.message) from exc
        verb = "Created" if result.created else "Already present:"
        self.stdout.write(
            f"{verb} tenant {result.tenant.slug} ({result.tenant.kind}, schema {result.tenant.schema_name})"
            f" at {options['domain']}"
        )
