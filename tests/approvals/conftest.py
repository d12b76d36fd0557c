"""Fixtures for access requests: a study with two datasets in a tenant whose analysts default to metadata."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.models import Dataset, DatasetKind, Study
from tenants.models import Tenant
from tests.conftest import ApiClient


@pytest.fixture
def metadata_default(tenant_a: Tenant) -> Tenant:
    """Analysts of tenant_a see metadata only unless granted more (a consortium-style workspace)."""
    tenant_a.settings = {**(tenant_a.settings or {}), "analyst_default_level": "metadata"}
    tenant_a.save(update_fields=["settings"])
    return tenant_a


@pytest.fixture
def gov_study(metadata_default: Tenant) -> str:
    """Study ``gov`` (demographics + cognitive) in tenant_a, catalog rows only."""
    with tenant_context(metadata_default):
        study = Study.objects.create(slug="gov", name="Governed study", id_column="participant_id")
        demographics = Dataset.objects.create(study=study, name="demographics", kind=DatasetKind.DEMOGRAPHICS)
        Dataset.objects.create(study=study, name="cognitive", kind=DatasetKind.MEASURE)
        study.demographics = demographics
        study.save(update_fields=["demographics"])
    connection.set_schema_to_public()
    return "gov"


@pytest.fixture
def clients(api: Callable[..., ApiClient], tenant_a: Tenant) -> dict[str, ApiClient]:
    """An owner, a steward, two analysts and a viewer of tenant_a."""
    return {
        "owner": api(tenant_a, "owner"),
        "steward": api(tenant_a, "steward"),
        "analyst": api(tenant_a, "analyst"),
        "other": api(tenant_a, "analyst"),
        "viewer": api(tenant_a, "viewer"),
    }


def level_of(tenant: Tenant, user: Any, study: str, dataset: str) -> str | None:
    """The user's effective level on a dataset right now (through the access core)."""
    from access.selectors import dataset_level_for_user

    with tenant_context(tenant):
        found = Dataset.objects.select_related("study").get(study__slug=study, name=dataset)
        level = dataset_level_for_user(user=user, tenant=tenant, dataset=found)
    connection.set_schema_to_public()
    return level.value if level is not None else None
