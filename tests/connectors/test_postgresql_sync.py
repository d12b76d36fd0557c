"""A steward connects a PostgreSQL database, pulls two tables into a study and keeps them in sync."""

from __future__ import annotations

from typing import Any

from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from connectors.models import Connection
from datasets.models import DatasetVersion


def _sync(steward_api: Any, study: str, connection_id: int, source: str, dataset: str, kind: str) -> dict[str, Any]:
    response = steward_api.post(
        f"/api/v1/studies/{study}/syncs",
        {"connection": connection_id, "source": source, "dataset": dataset, "kind": kind},
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_pull_change_and_resync_makes_versions_only_for_changes(
    steward_api: Any,
    make_study: Any,
    pg_connection: dict[str, Any],
    source_pg: dict[str, Any],
    run_sync: Any,
    tenant_a: Any,
) -> None:
    assert "secret" not in pg_connection and source_pg["secret"]["password"] not in str(pg_connection)
    sources = steward_api.get(f"/api/v1/connections/{pg_connection['id']}/sources").json()["items"]
    assert {"name": "demographics", "kind": "table"} in sources
    assert {"name": "adults", "kind": "view"} in sources
    make_study("clinic-study")
    demo = _sync(steward_api, "clinic-study", pg_connection["id"], "demographics", "demographics", "demographics")
    scores = _sync(steward_api, "clinic-study", pg_connection["id"], "memory_scores", "memory", "measure")

    first = run_sync(demo["id"])
    assert first["runs"][0]["status"] == "succeeded", first["runs"][0]
    assert first["last_good_version"] == 1
    measured = run_sync(scores["id"])
    assert measured["runs"][0]["status"] == "succeeded", measured["runs"][0]
    dataset = steward_api.get("/api/v1/studies/clinic-study/datasets/memory").json()
    assert dataset["latest_version"]["row_count"] == 5
    assert {c["name"]: c["type"] for c in dataset["latest_version"]["columns"]}["score"] == "float"

    source_pg["sql"]("UPDATE memory_scores SET score = 15.5 WHERE participant_id = 'p02'")
    changed = run_sync(scores["id"])
    run = changed["runs"][0]
    assert run["status"] == "succeeded" and run["version"] == 2
    assert run["diff"]["rows_changed"] == 1 and run["diff"]["rows_added"] == 0 and run["diff"]["rows_removed"] == 0
    assert run["diff"]["from_version"] == 1 and run["diff"]["to_version"] == 2
    assert changed["last_good_version"] == 2

    unchanged = run_sync(scores["id"])
    assert unchanged["runs"][0]["status"] == "unchanged" and unchanged["runs"][0]["version"] == 2
    versions = steward_api.get("/api/v1/studies/clinic-study/datasets/memory/versions").json()
    assert versions["total"] == 2
    assert [len(unchanged["runs"]), unchanged["last_good_version"]] == [3, 2]
    with tenant_context(tenant_a):
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"connection.created", "connection.tls_lowered", "sync.created", "dataset_version.created"} <= actions


def test_wrong_credentials_are_connection_failed_and_register_nothing(
    steward_api: Any, source_pg: dict[str, Any], tenant_a: Any
) -> None:
    config = {**source_pg["config"], "user": "nobody_here"}
    response = steward_api.post(
        "/api/v1/connections", {"name": "bad", "kind": "postgresql", "config": config, "secret": {"password": "x"}}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "connection_failed"
    assert "x" not in response.json()["error"]["message"].split() and "/" not in response.json()["error"]["message"]
    with tenant_context(tenant_a):
        assert not Connection.objects.exists()


def test_tls_is_verified_by_default(steward_api: Any, source_pg: dict[str, Any]) -> None:
    config = {key: value for key, value in source_pg["config"].items() if key != "sslmode"}
    response = steward_api.post(
        "/api/v1/connections", {"name": "strict", "kind": "postgresql", "config": config, "secret": source_pg["secret"]}
    )
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "connection_failed"
    assert "TLS" in response.json()["error"]["message"]


def test_secret_is_encrypted_at_rest_and_never_returned(
    steward_api: Any, pg_connection: dict[str, Any], source_pg: dict[str, Any], tenant_a: Any
) -> None:
    password = source_pg["secret"]["password"]
    with tenant_context(tenant_a):
        stored = Connection.objects.get(pk=pg_connection["id"])
        events = list(AuditEvent.objects.values_list("details", flat=True))
    assert stored.secret_token.startswith("gAAAA") and password not in stored.secret_token  # a Fernet token
    assert password not in str(stored.config) and password not in str(events)
    listed = steward_api.get("/api/v1/connections").json()
    assert listed["total"] == 1 and listed["items"][0]["secret_fields"] == ["password"]
    assert password not in str(listed) and "secret" not in listed["items"][0]
    assert password not in steward_api.get(f"/api/v1/connections/{pg_connection['id']}").content.decode()
    assert steward_api.post(f"/api/v1/connections/{pg_connection['id']}/test").json() == {"ok": True, "error": None}


def test_a_failed_pull_keeps_the_last_good_version(
    steward_api: Any,
    make_study: Any,
    pg_connection: dict[str, Any],
    source_pg: dict[str, Any],
    run_sync: Any,
    tenant_a: Any,
) -> None:
    make_study("keep-study")
    demo = _sync(steward_api, "keep-study", pg_connection["id"], "demographics", "demographics", "demographics")
    assert run_sync(demo["id"])["last_good_version"] == 1
    source_pg["sql"]("ALTER TABLE demographics RENAME TO demographics_old")
    try:
        failed = run_sync(demo["id"])
    finally:
        source_pg["sql"]("ALTER TABLE demographics_old RENAME TO demographics")
    assert failed["runs"][0]["status"] == "failed"
    assert failed["runs"][0]["error"]["code"] == "source_not_found"
    assert failed["runs"][0]["ingest"]["status"] == "failed"
    assert failed["last_good_version"] == 1
    with tenant_context(tenant_a):
        assert DatasetVersion.objects.filter(dataset__study__slug="keep-study").count() == 1
