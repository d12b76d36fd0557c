"""The studies several suites share: ``study`` ("memory": longitudinal, demographics and two measure tables) and
``gov`` (60 participants, an identifying column), with the governance helpers around "gov"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from access.services import grant_create
from datasets.models import Dataset, Study
from tests.conftest import ApiClient
from tests.csv_data import (
    MEMORY_COGNITIVE,
    MEMORY_DEMOGRAPHICS,
    MEMORY_FLANKER,
    gov_cognitive_csv,
    gov_demographics_csv,
)


@pytest.fixture
def study(make_study: Any, upload: Any) -> str:
    make_study("memory", age_column="age", sex_column="sex", site_column="site")
    for name, text, kind in (
        ("demographics", MEMORY_DEMOGRAPHICS, "demographics"),
        ("cognitive", MEMORY_COGNITIVE, "measure"),
        ("flanker", MEMORY_FLANKER, "measure"),
    ):
        _, ingest = upload("memory", text, name, kind=kind)
        assert ingest["status"] == "succeeded", ingest
    return "memory"


@pytest.fixture
def gov(make_study: Any, upload: Any, tenant_a: Any) -> str:
    """Study "gov": 60 participants; demographics (with an identifying ``name``) and a ``cognitive`` measure."""
    make_study("gov", age_column="age", sex_column="sex")
    for name, text, kind in (
        ("demographics", gov_demographics_csv(), "demographics"),
        ("cognitive", gov_cognitive_csv(), "measure"),
    ):
        _, ingest = upload("gov", text, name, kind=kind)
        assert ingest["status"] == "succeeded", ingest
    return "gov"


def tag_identifying(tenant: Any, study: str, dataset: str, column: str) -> None:
    """Mark a column as identifying (the catalog's sensitivity tag)."""
    with tenant_context(tenant):
        ds = Dataset.objects.get(study__slug=study, name=dataset)
        ds.column_meta = {**ds.column_meta, column: {"sensitivity": "identifying"}}
        ds.save()
    connection.set_schema_to_public()


@pytest.fixture
def grant(tenant_a: Any, steward_api: ApiClient) -> Callable[..., Any]:
    """``grant(user, level, dataset=None|name, **kw)``: a grant by the fixture steward, through the service."""

    def _grant(
        user: Any = None, level: str = "query", dataset: str | None = None, study: str = "gov", **kw: Any
    ) -> Any:
        with tenant_context(tenant_a):
            target = Study.objects.get(slug=study)
            ds = Dataset.objects.get(study=target, name=dataset) if dataset else None
            made = grant_create(
                tenant=tenant_a, actor=steward_api.user, study=target, dataset=ds, user=user, level=level, **kw
            )
        connection.set_schema_to_public()
        return made

    return _grant


@pytest.fixture
def consortium_default(steward_api: ApiClient) -> Callable[[str], None]:
    """Set the study default for analysts (e.g. "metadata", like a consortium workspace)."""

    def _set(level: str = "metadata", study: str = "gov") -> None:
        response = steward_api.post(f"/api/v1/studies/{study}/defaults", {"level": level})
        assert response.status_code == 201, response.content

    return _set


@pytest.fixture
def analyst_at(
    api: Callable[..., ApiClient], tenant_a: Any, grant: Callable[..., Any], consortium_default: Callable[[str], None]
) -> Callable[[str], ApiClient]:
    """``analyst_at(level)``: an analyst whose level on every dataset of "gov" is exactly ``level``
    (the study default is set to metadata first)."""
    state = {"default_set": False}

    def _make(level: str) -> ApiClient:
        if not state["default_set"]:
            consortium_default("metadata")
            state["default_set"] = True
        client = api(tenant_a, "analyst")
        if level != "metadata":
            grant(client.user, level)
        return client

    return _make


@pytest.fixture
def browser_of(tenant_a: Any) -> Callable[[Any], Client]:
    """``browser_of(user)``: a signed-in browser (test client on lab A's host) for an existing member."""

    def _make(user: Any) -> Client:
        client = Client(HTTP_HOST=tenant_a.primary_domain_name() or "lab-a.test")
        client.force_login(user)
        client.user = user  # type: ignore[attr-defined]
        return client

    return _make
