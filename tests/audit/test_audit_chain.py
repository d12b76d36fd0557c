"""Audit events: append-only in the database, hash-chained, written in the caller's transaction."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from audit.services import audit_event_digest, audit_event_record

pytestmark = pytest.mark.django_db


def test_events_form_a_hash_chain(tenant_a) -> None:
    with tenant_context(tenant_a):
        first = audit_event_record(action="chain.one", details={"n": 1})
        second = audit_event_record(action="chain.two", details={"n": 2})
        assert second.prev_hash == first.hash
        assert audit_event_digest(AuditEvent.objects.get(pk=second.pk)) == second.hash


def test_update_and_delete_are_rejected_by_the_database(tenant_a) -> None:
    with tenant_context(tenant_a):
        event = audit_event_record(action="chain.immutable")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(action="forged")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).delete()
        assert AuditEvent.objects.get(pk=event.pk).action == "chain.immutable"


def test_a_rolled_back_change_leaves_no_event(tenant_a) -> None:
    with tenant_context(tenant_a):
        before = AuditEvent.objects.count()
        with pytest.raises(RuntimeError), transaction.atomic():
            audit_event_record(action="chain.rolled_back")
            raise RuntimeError("the change failed")
        assert AuditEvent.objects.count() == before
        assert not AuditEvent.objects.filter(action="chain.rolled_back").exists()


def test_membership_and_token_changes_are_audited(tenant_a, make_member, make_token) -> None:
    user = make_member(tenant_a, "analyst")
    make_token(user, tenant_a)
    with tenant_context(tenant_a):
        actions = list(AuditEvent.objects.filter(actor_email__in=["", user.email]).values_list("action", flat=True))
        added = AuditEvent.objects.filter(action="member.added", details__email=user.email).get()
    assert "token.created" in actions
    assert added.details["role"] == "analyst"
