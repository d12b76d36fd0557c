"""``token_create --tenant SLUG --email EMAIL [--role R] [--expires-days N]`` (or ``--platform --email EMAIL`` for the
platform host's API): prints a new token last."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from core.errors import ApiError
from tenants.models import Tenant
from tenants.roles import Role
from tenants.services import membership_set, user_get_or_create
from tenants.token_scopes import TokenScope
from tenants.tokens import api_token_create


class Command(BaseCommand):
    help = "Create (if needed) a user and membership, then a personal access token; the token is the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default=None, help="Tenant slug.")
        parser.add_argument(
            "--platform", action="store_true", help="A token for the platform host (list and create workspaces)."
        )
        parser.add_argument("--email", required=True, help="The user's e-mail (created if missing).")
        parser.add_argument(
            "--role", choices=Role.values, default=None, help="Role to set (default analyst for new members)."
        )
        parser.add_argument("--expires-days", type=int, default=None, help="Token lifetime in days.")
        parser.add_argument("--name", default="cli", help="Token name (default: cli).")
        parser.add_argument(
            "--scope",
            choices=TokenScope.values,
            default=TokenScope.FULL,
            help="full (default), read (read-only) or count (count-level surfaces only).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["platform"]:
            self._platform(options)
            return
        if not options["tenant"]:
            raise CommandError("Name the workspace with --tenant SLUG (or use --platform).")
        tenant = Tenant.objects.filter(slug=options["tenant"]).exclude(schema_name="public").first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {options['tenant']!r}. Create it with tenant_create first.")
        try:
            with transaction.atomic():  # nothing half-made: no member without the token, no token without the rules
                user = user_get_or_create(email=options["email"])
                existing = user.memberships.filter(tenant=tenant).first()  # type: ignore[attr-defined]
                role = options["role"] or (existing.role if existing else Role.ANALYST)
                membership_set(tenant=tenant, user=user, role=role)
                created = api_token_create(
                    user=user,
                    tenant=tenant,
                    name=options["name"],
                    expires_days=options["expires_days"],
                    scope=options["scope"],
                )
        except ApiError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"Token ({created.token.scope}) for {user.email} ({role}) in {tenant.slug}, "
            f"expires {created.token.expires_at:%Y-%m-%d}. It is shown only now."
        )
        self.stdout.write(created.plaintext)

    def _platform(self, options: dict[str, Any]) -> None:
        from tenants.platform_tokens import platform_token_create

        if options["tenant"] or options["role"]:
            raise CommandError("--platform tokens belong to no workspace: leave out --tenant and --role.")
        try:
            with transaction.atomic():
                user = user_get_or_create(email=options["email"])
                created = platform_token_create(user=user, name=options["name"], expires_days=options["expires_days"])
        except ApiError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"Platform token for {user.email}, expires {created.token.expires_at:%Y-%m-%d}. It is shown only now."
        )
        self.stdout.write(created.plaintext)
