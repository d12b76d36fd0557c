"""Connector tests: real source servers (a PostgreSQL database of its own on the suite's server, MariaDB, the S3
protocol server, recorded REDCap/LORIS conversations over HTTP); every test gets its own storage root."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from tests.conftest import ApiClient


@pytest.fixture(autouse=True)
def _own_storage_root(isolated_media: None) -> None:
    """Every test here gets its own storage root."""


@pytest.fixture
def pg_connection(steward_api: ApiClient, source_pg: dict[str, Any]) -> dict[str, Any]:
    """A connection to the source database created through the API (TLS lowered: the local server has none)."""
    response = steward_api.post(
        "/api/v1/connections",
        {"name": "clinic", "kind": "postgresql", "config": source_pg["config"], "secret": source_pg["secret"]},
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def run_sync(steward_api: ApiClient, tenant_a: Any) -> Callable[..., dict[str, Any]]:
    """``run_sync(sync_id)``: start a run through the API and execute it in this process (the worker path has its
    own test); returns the sync as ``GET /syncs/{id}`` shows it afterwards."""
    from connectors.runs import sync_run_execute

    def _run(sync_id: int, client: ApiClient | None = None) -> dict[str, Any]:
        caller = client or steward_api
        response = caller.post(f"/api/v1/syncs/{sync_id}/run")
        assert response.status_code == 202, response.content
        body = response.json()
        assert body["ingest"]["status"] == "queued"
        with tenant_context(tenant_a):
            sync_run_execute(body["id"])
        connection.set_schema_to_public()
        return caller.get(f"/api/v1/syncs/{sync_id}").json()

    return _run


def source_host(url: str) -> str:
    return urlsplit(url).hostname or ""
