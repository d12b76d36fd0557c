"""A real Celery worker runs each task in the schema of the tenant that enqueued it."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django_tenants.utils import tenant_context

from audit.services import audit_event_record
from tenants.models import Tenant
from tenants.tasks import tenant_worker_check

pytestmark = [pytest.mark.worker]


def test_task_runs_in_the_callers_schema_and_sees_only_its_data(celery_worker: Any, django_db_blocker: Any) -> None:
    with django_db_blocker.unblock():
        tenant_a = Tenant.objects.get(slug="lab-a")
        tenant_b = Tenant.objects.get(slug="lab-b")
        with tenant_context(tenant_a):
            audit_event_record(action="worker.marker_a")
        with tenant_context(tenant_b):
            audit_event_record(action="worker.marker_b")
        with tenant_context(tenant_a):
            seen_a = tenant_worker_check.delay().get(timeout=30)
        with tenant_context(tenant_b):
            seen_b = tenant_worker_check.delay().get(timeout=30)
    assert seen_a["schema"] == "t_lab_a" and seen_b["schema"] == "t_lab_b"
    assert "worker.marker_a" in seen_a["latest_actions"] and "worker.marker_b" not in seen_a["latest_actions"]
    assert "worker.marker_b" in seen_b["latest_actions"] and "worker.marker_a" not in seen_b["latest_actions"]


def test_worker_check_command(celery_worker: Any, django_db_blocker: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with django_db_blocker.unblock():
        call_command("worker_check", "--tenant", "lab-b")
    assert '"schema": "t_lab_b"' in capsys.readouterr().out
