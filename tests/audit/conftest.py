"""Fixtures of the audit and lineage tests: the query tests' study, signed-in browsers, helpers to read events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from tenants.models import Tenant
from tests.conftest import PASSWORD


@pytest.fixture(autouse=True)
def _own_storage_root(isolated_media: None) -> None:
    """Every test here gets its own storage root (``isolated_media``)."""


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def browser(tenant_a: Tenant, make_member: Callable[..., Any]) -> Callable[..., Client]:
    """``browser(role)`` -> a test client signed in as a new member of lab A with ``role`` (``.user`` set)."""

    def _make(role: str = "analyst", user: Any = None) -> Client:
        member = user or make_member(tenant_a, role)
        client = Client(HTTP_HOST=tenant_a.primary_domain_name() or "lab-a.test")
        assert client.login(email=member.email, password=PASSWORD)
        client.user = member  # type: ignore[attr-defined]
        return client

    return _make


@pytest.fixture
def events(tenant_a: Tenant) -> Callable[..., list[AuditEvent]]:
    """``events(action, after=id)`` -> lab A's events with that action (newer than ``after``), oldest first."""

    def _events(action: str | None = None, after: int = 0, **match: Any) -> list[AuditEvent]:
        with tenant_context(tenant_a):
            found = AuditEvent.objects.filter(id__gt=after, **match).order_by("id")
            if action:
                found = found.filter(action=action)
            result = list(found)
        connection.set_schema_to_public()
        return result

    return _events


@pytest.fixture
def last_event_id(tenant_a: Tenant) -> Callable[[], int]:
    """The id of lab A's newest event (a watermark for 'exactly one event since')."""

    def _last() -> int:
        with tenant_context(tenant_a):
            newest = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
        connection.set_schema_to_public()
        return int(newest or 0)

    return _last
