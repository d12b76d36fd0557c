"""Audit log API, chain verification (API and command) and tamper detection."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from audit.services import audit_event_record

pytestmark = pytest.mark.django_db


def _tamper(event_id: int, **changes: str) -> None:
    """Rewrite a stored event as the database owner would, bypassing the append-only trigger."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only")
        AuditEvent.objects.filter(pk=event_id).update(**changes)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only")


def test_steward_lists_and_filters_the_log_and_the_read_is_audited(api, tenant_a) -> None:
    steward = api(tenant_a, "steward")
    with tenant_context(tenant_a):
        audit_event_record(action="test.alpha", details={"n": 1})
        audit_event_record(action="test.beta", details={"n": 2})
    page = steward.get("/api/v1/audit?action=test.&page_size=10").json()
    assert [item["action"] for item in page["items"]][:2] == ["test.beta", "test.alpha"]
    first = page["items"][0]
    assert set(first) >= {"id", "at", "actor", "action", "target", "details", "hash", "prev_hash"}
    assert steward.get("/api/v1/audit?action=test.alpha").json()["total"] == 1
    with tenant_context(tenant_a):
        assert AuditEvent.objects.filter(action="audit.read").exists()


@pytest.mark.parametrize("role", ["analyst", "viewer"])
def test_only_stewards_and_owners_read_the_log(api, tenant_a, role) -> None:
    assert api(tenant_a, role).get("/api/v1/audit").status_code == 403
    assert api(tenant_a, role).get("/api/v1/audit/verify").status_code == 403


def test_verify_detects_a_tampered_event(api, tenant_a) -> None:
    owner = api(tenant_a, "owner")
    with tenant_context(tenant_a):
        audit_event_record(action="test.before")
        target = audit_event_record(action="test.target", details={"rows": 10})
        audit_event_record(action="test.after")
    healthy = owner.get("/api/v1/audit/verify").json()
    assert healthy["ok"] is True and healthy["first_bad_event"] is None and healthy["events"] >= 3
    with tenant_context(tenant_a):
        _tamper(target.pk, details={"rows": 1})
    broken = owner.get("/api/v1/audit/verify").json()
    assert broken["ok"] is False and broken["first_bad_event"] == target.pk
    with pytest.raises(CommandError, match="lab-a"):
        call_command("audit_verify", "--tenant", "lab-a", stdout=StringIO())


def test_verify_command_reports_ok_chains() -> None:
    out = StringIO()
    call_command("audit_verify", "--tenant", "lab-b", stdout=out)
    assert "lab-b: ok" in out.getvalue()
    with pytest.raises(CommandError, match="No tenant"):
        call_command("audit_verify", "--tenant", "nope", stdout=StringIO())
