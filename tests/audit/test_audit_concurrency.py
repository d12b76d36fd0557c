"""Concurrent writers in one tenant never fork the audit chain (appends are serialized per schema)."""

from __future__ import annotations

import threading
from typing import Any

from django.db import connection
from django_tenants.utils import tenant_context

from audit.services import audit_event_record
from audit.verification import audit_chain_verify
from tenants.models import Tenant


def test_parallel_appends_keep_one_valid_chain(django_db_setup: None, django_db_blocker: Any) -> None:
    errors: list[BaseException] = []
    with django_db_blocker.unblock():
        tenant = Tenant.objects.get(slug="lab-b")

        def writer(index: int) -> None:
            try:
                with tenant_context(tenant):
                    for n in range(15):
                        audit_event_record(action="test.concurrent", details={"writer": index, "n": n})
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with tenant_context(tenant):
            report = audit_chain_verify()
        connection.set_schema_to_public()
    assert errors == []
    assert report.ok, report
    assert report.events >= 90
