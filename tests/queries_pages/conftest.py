"""Fixtures of the query builder page tests: the query API tests' study (longitudinal, three tables), signed-in
browsers per role, and running queued runs in-process."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from datasets.models import Study
from queries.pages.builder_schema import StudySchema, study_schema
from tenants.models import Tenant


@pytest.fixture(autouse=True)
def _own_storage_root(isolated_media: None) -> None:
    """Every test here gets its own storage root (``isolated_media``)."""


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def host(tenant_a: Tenant) -> str:
    return tenant_a.primary_domain_name() or "lab-a.test"


@pytest.fixture
def browser(tenant_a: Tenant, page_client: Callable[..., Client], host: str) -> Callable[..., Client]:
    """``browser(role)`` -> a test client on lab A's host, signed in as a new member of lab A (or ``tenant``)."""

    def _make(role: str = "analyst", tenant: Tenant | None = None) -> Client:
        return page_client(tenant or tenant_a, role, host=host)

    return _make


@pytest.fixture
def analyst(browser: Callable[..., Client]) -> Client:
    return browser("analyst")


@pytest.fixture
def schema_of(tenant_a: Tenant) -> Callable[[str], StudySchema]:
    """``schema_of(slug)`` -> the builder's schema of a study of lab A."""

    def _schema(slug: str) -> StudySchema:
        with tenant_context(tenant_a):
            schema = study_schema(Study.objects.select_related("demographics").get(slug=slug))
            list(schema.datasets)  # evaluated inside the tenant
        connection.set_schema_to_public()
        return schema

    return _schema


HX = {"HTTP_HX_REQUEST": "true"}
