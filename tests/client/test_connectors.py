"""A study fed by a PostgreSQL connection through a real worker: the client runs its cohort like the API does."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.client.conftest import CLIENT_TENANT, COHORT_SPEC, Member, cohort_expected_keys, cohort_tables
from tests.client.test_queries import RawApi
from tests.live_server import LiveServer
from tests.plugins.connectors import Table, source_database

pytestmark = pytest.mark.worker


@pytest.fixture(scope="module")
def cohort_source(django_db_setup: None) -> Iterator[dict[str, Any]]:
    """The client cohort's tables in a PostgreSQL database of their own (the source a steward connects)."""
    tables = cohort_tables()
    keys = [("participant_id", "text"), ("session", "text")]
    demographics_columns = [*keys, ("age", "integer"), ("sex", "text"), ("site", "text"), ("visit_date", "date")]
    source: list[Table] = [
        ("demographics", demographics_columns, [tuple(row.values()) for row in tables["demographics"]]),
        ("memory", [*keys, ("score", "double precision")], [tuple(row.values()) for row in tables["memory"]]),
    ]
    yield from source_database("cohort", source)


def _wait_ingest(http: httpx.Client, ingest_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        job = http.get(f"/ingests/{ingest_id}").json()
        if job["status"] in {"succeeded", "failed"} or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_a_synced_study_gives_the_client_the_same_rows_as_the_api(
    celery_worker: Any, live: LiveServer, make_client_member: Any, connect: Any, cohort_source: dict[str, Any]
) -> None:
    steward: Member = make_client_member("steward")
    host = CLIENT_TENANT[2]
    http = httpx.Client(
        base_url=f"http://127.0.0.1:{live.port}/api/v1",
        headers={"Host": f"{host}:{live.port}", "Authorization": f"Bearer {steward.token}"},
        timeout=60,
    )
    slug = f"synced-{uuid.uuid4().hex[:6]}"
    study = {"slug": slug, "name": "Synced", "id_column": "participant_id", "session_column": "session",
             "age_column": "age", "sex_column": "sex", "site_column": "site"}  # fmt: skip
    assert http.post("/studies", json=study).status_code == 201
    created = http.post(
        "/connections",
        json={"name": f"hospital-{slug}", "kind": "postgresql", "config": cohort_source["config"],
              "secret": cohort_source["secret"]},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    for source, kind in (("demographics", "demographics"), ("memory", "measure")):
        sync = http.post(
            f"/studies/{slug}/syncs",
            json={"connection": created.json()["id"], "source": source, "dataset": source, "kind": kind},
        )
        assert sync.status_code == 201, sync.text
        accepted = http.post(f"/syncs/{sync.json()['id']}/run")
        assert accepted.status_code == 202, accepted.text
        job = _wait_ingest(http, accepted.json()["ingest"]["id"])  # pulled and ingested by the real worker
        assert job["status"] == "succeeded" and job["version"] == 1, job
        runs = http.get(f"/syncs/{sync.json()['id']}").json()["runs"]
        assert runs[0]["status"] == "succeeded"

    raw = RawApi(live, host, steward.token)
    api_run, api_rows = raw.run_rows(slug, COHORT_SPEC)
    expected = cohort_expected_keys()
    assert api_run["row_count"] == len(expected)

    client = connect(member=steward)
    run = client.run(slug, COHORT_SPEC)
    assert run.status == "succeeded" and run.columns == api_run["columns"]
    client_rows = [list(row.values()) for row in run.to_arrow().to_pylist()]
    plain = [[value.isoformat() if hasattr(value, "isoformat") else value for value in row] for row in client_rows]
    assert plain == api_rows
    assert {(row[0], row[1]) for row in api_rows} == expected
