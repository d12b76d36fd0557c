"""Re-encrypt every connection secret of every workspace with the newest key of BDT_CONNECTOR_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_tenants.utils import get_tenant_model, tenant_context

from connectors.models import Connection
from connectors.vault import secret_rotate
from core.errors import ApiError


class Command(BaseCommand):
    help = (
        "Re-encrypt connection secrets with the first key of BDT_CONNECTOR_KEYS (put the new key first, run this, "
        "then remove the old key)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        try:
            for tenant in get_tenant_model().objects.exclude(schema_name="public"):
                with tenant_context(tenant), transaction.atomic():
                    for connection in Connection.objects.select_for_update().exclude(secret_token=""):
                        connection.secret_token = secret_rotate(connection.secret_token)
                        connection.save(update_fields=["secret_token"])
                        rotated += 1
        except ApiError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{rotated} connection secret(s) re-encrypted with the newest key.")
