"""The sharing stage: lab A ("gov", 60 participants) and lab B ("memory") contribute to consortium C; lab B also plays
the third workspace that must learn nothing of the others' contributions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.ingest_runner import ingest_job_execute
from queries.run_worker import query_run_execute
from tenants.models import Tenant
from tenants.services import tenant_create
from tests.conftest import ApiClient
from tests.csv_data import MEMORY_DEMOGRAPHICS, MEMORY_FLANKER
from tests.plugins.datasets import csv_upload

CONSORTIUM = ("cons-c", "Consortium C", "cons-c.test")


@pytest.fixture(scope="session")
def _consortium_created(django_db_setup: None, django_db_blocker: Any) -> None:
    with django_db_blocker.unblock():
        slug, name, domain = CONSORTIUM
        tenant_create(slug=slug, name=name, domain=domain, kind="consortium")
        connection.set_schema_to_public()


@pytest.fixture
def consortium(_consortium_created: None, django_db_blocker: Any) -> Tenant:
    with django_db_blocker.unblock():
        return Tenant.objects.get(slug=CONSORTIUM[0])


@pytest.fixture
def run_in() -> Callable[[Tenant, int], str]:
    """``run_in(tenant, run_id)``: run a queued run of ``tenant`` to the end in this process."""

    def _run(tenant: Tenant, run_id: int) -> str:
        with tenant_context(tenant):
            status = query_run_execute(run_id)
        connection.set_schema_to_public()
        return status

    return _run


@pytest.fixture
def cons_steward(api: Callable[..., ApiClient], consortium: Tenant) -> ApiClient:
    return api(consortium, "steward")


def memory_study_register(steward: ApiClient, tenant: Tenant, slug: str = "memory", **fields: Any) -> None:
    """Register study ``slug`` (demographics and flanker of "memory") through ``steward``'s API, ingested here."""
    study = {"slug": slug, "name": slug.title(), "id_column": "participant_id", "session_column": "session", **fields}
    made = steward.post("/api/v1/studies", study)
    assert made.status_code == 201, made.content
    for name, text, kind in (
        ("demographics", MEMORY_DEMOGRAPHICS, "demographics"),
        ("flanker", MEMORY_FLANKER, "measure"),
    ):
        response = steward.post(
            f"/api/v1/studies/{slug}/datasets",
            {"file": csv_upload(text, f"{name}.csv"), "name": name, "kind": kind},
            multipart=True,
        )
        assert response.status_code == 202, response.content
        with tenant_context(tenant):
            ingest_job_execute(response.json()["ingest"]["id"])
        connection.set_schema_to_public()


@pytest.fixture
def lab_b_memory(api: Callable[..., ApiClient], tenant_b: Tenant, django_capture_on_commit_callbacks: Any) -> ApiClient:
    """Lab B's steward, with study "memory" (demographics and flanker) registered."""
    steward = api(tenant_b, "steward")
    memory_study_register(steward, tenant_b, age_column="age", sex_column="sex", site_column="site")
    return steward


def error_code(response: Any) -> str:
    """The error code of an API answer."""
    return str(response.json()["error"]["code"])


def grant_datasets(
    steward: ApiClient,
    member: ApiClient,
    study: str,
    level: str,
    datasets: tuple[str, ...] = ("demographics", "cognitive"),
) -> None:
    """``steward`` grants ``member`` ``level`` on each of ``datasets`` of ``study``."""
    for dataset in datasets:
        granted = steward.post(
            f"/api/v1/studies/{study}/datasets/{dataset}/grants", {"email": member.user.email, "level": level}
        )
        assert granted.status_code == 201, granted.content


def offer_and_accept(
    lab: ApiClient, cons: ApiClient, study: str, slug: str, level: str = "export", **extra: Any
) -> int:
    """Offer ``study`` from ``lab`` to the consortium and accept it as ``slug``; returns the contribution id."""
    offered = lab.post(f"/api/v1/studies/{study}/contributions", {"consortium": CONSORTIUM[0], "level": level, **extra})
    assert offered.status_code == 201, offered.content
    cid = offered.json()["id"]
    accepted = cons.post(f"/api/v1/contributions/{cid}/accept", {"slug": slug})
    assert accepted.status_code == 200, accepted.content
    return int(cid)
