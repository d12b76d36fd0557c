"""Syncs: drift needs a steward's confirmation, schedules run from the beat, keys rotate, plugins register, and only
stewards of the workspace see any of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.utils import timezone
from django_tenants.utils import tenant_context

from connectors.core import ConnectorError, registry
from connectors.core.contract import Connector, FieldSpec
from connectors.models import Connection, Sync, SyncRun
from connectors.schedule import next_run
from connectors.vault import secret_decrypt


def _sync(steward_api: Any, study: str, connection_id: int, source: str, dataset: str, kind: str, **extra: Any) -> Any:
    return steward_api.post(
        f"/api/v1/studies/{study}/syncs",
        {"connection": connection_id, "source": source, "dataset": dataset, "kind": kind, **extra},
    )


def test_schema_drift_stops_the_sync_until_a_steward_confirms(
    steward_api: Any, make_study: Any, pg_connection: dict[str, Any], source_pg: dict[str, Any], run_sync: Any
) -> None:
    source_pg["sql"]("CREATE TABLE drift_people AS SELECT participant_id, session, age FROM demographics")
    try:
        make_study("drift-study")
        sync = _sync(steward_api, "drift-study", pg_connection["id"], "drift_people", "demographics", "demographics")
        assert sync.status_code == 201
        sync_id = sync.json()["id"]
        assert run_sync(sync_id)["last_good_version"] == 1
        source_pg["sql"]("ALTER TABLE drift_people ADD COLUMN handedness text, ALTER COLUMN age TYPE numeric")
        drifted = run_sync(sync_id)
        run = drifted["runs"][0]
        assert run["status"] == "drift" and run["version"] is None
        assert drifted["drift"]["added"] == ["handedness"]
        assert drifted["drift"]["retyped"] == [{"name": "age", "from": "integer", "to": "numeric"}]
        assert drifted["last_good_version"] == 1
        assert run_sync(sync_id)["runs"][0]["status"] == "drift"  # still waiting for the steward

        accepted = steward_api.post(f"/api/v1/syncs/{sync_id}/drift/accept")
        assert accepted.status_code == 200 and accepted.json()["drift"] is None
        after = run_sync(sync_id)
        assert after["runs"][0]["status"] == "succeeded" and after["last_good_version"] == 2
        assert after["runs"][0]["diff"]["schema"]["added"] == ["handedness"]
        assert steward_api.post(f"/api/v1/syncs/{sync_id}/drift/accept").json()["error"]["code"] == "no_drift"
    finally:
        source_pg["sql"]("DROP TABLE IF EXISTS drift_people")


def test_scheduled_syncs_start_when_due(
    steward_api: Any, make_study: Any, pg_connection: dict[str, Any], tenant_a: Any
) -> None:
    from connectors.tasks import syncs_due

    make_study("sched-study")
    bad = _sync(steward_api, "sched-study", pg_connection["id"], "demographics", "demographics", "demographics",
                schedule="every day")  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_schedule"
    created = _sync(steward_api, "sched-study", pg_connection["id"], "demographics", "demographics", "demographics",
                    schedule="0 3 * * *")  # fmt: skip
    assert created.status_code == 201
    body = created.json()
    assert body["schedule"] == "0 3 * * *" and body["next_run_at"] is not None
    with tenant_context(tenant_a):
        assert syncs_due() == 0  # not due yet
        Sync.objects.filter(pk=body["id"]).update(next_run_at=timezone.now() - timedelta(minutes=1))
        assert syncs_due() == 1
        run = SyncRun.objects.get(sync_id=body["id"])
        assert run.trigger == "schedule" and run.status == "queued" and run.ingest is not None
        assert Sync.objects.get(pk=body["id"]).next_run_at > timezone.now()


def test_next_run_follows_the_cron_expression() -> None:
    start = timezone.now().replace(hour=1, minute=0, second=0, microsecond=0)
    assert next_run("0 3 * * *", start) == start.replace(hour=3)
    assert next_run("*/15 * * * *", start) == start + timedelta(minutes=15)


def test_key_rotation_re_encrypts_every_secret(
    pg_connection: dict[str, Any], source_pg: dict[str, Any], tenant_a: Any, settings: Any
) -> None:
    with tenant_context(tenant_a):
        before = Connection.objects.get(pk=pg_connection["id"]).secret_token
    old_key = settings.BDT_CONNECTOR_KEYS[0]
    settings.BDT_CONNECTOR_KEYS = [Fernet.generate_key().decode(), old_key]
    call_command("connector_keys_rotate")
    with tenant_context(tenant_a):
        after = Connection.objects.get(pk=pg_connection["id"]).secret_token
    assert after != before
    settings.BDT_CONNECTOR_KEYS = settings.BDT_CONNECTOR_KEYS[:1]  # the old key is gone
    assert secret_decrypt(after) == source_pg["secret"]


class EchoConnector(Connector):
    kind = "echo"
    title = "Echo"
    config_fields = (FieldSpec("greeting", "Greeting"),)

    def test(self) -> None:
        return None

    def sources(self) -> list[Any]:
        return []

    def columns(self, source: str) -> list[Any]:
        return []

    def pull(self, source: str, destination: Any, options: Any) -> Any:
        raise ConnectorError("source_not_found", "nothing")


def test_a_plugin_registered_by_entry_point_is_offered(steward_api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    class EntryPoint:
        name, value = "echo", "tests.connectors.test_syncs:EchoConnector"

    class Shadow:
        name, value = "postgresql", "tests.connectors.test_syncs:EchoConnector"

    monkeypatch.setattr(
        registry, "entry_points", lambda group: [EntryPoint(), Shadow()] if group == "bdt.connectors" else []
    )
    registry.registry_reset()
    try:
        kinds = {item["kind"]: item for item in steward_api.get("/api/v1/connectors").json()}
        assert kinds["echo"]["config_fields"][0]["name"] == "greeting"
        assert kinds["postgresql"]["title"] == "PostgreSQL"  # a built-in cannot be replaced
        created = steward_api.post("/api/v1/connections", {"name": "e", "kind": "echo", "config": {"greeting": "hi"}})
        assert created.status_code == 201, created.content
        missing = steward_api.post("/api/v1/connections", {"name": "f", "kind": "echo", "config": {}})
        assert missing.status_code == 422 and missing.json()["error"]["code"] == "invalid_config"
        unknown = steward_api.post("/api/v1/connections", {"name": "g", "kind": "ftp", "config": {}})
        assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_kind"
    finally:
        registry.registry_reset()


def test_only_stewards_of_the_workspace_see_connections(
    api: Any, pg_connection: dict[str, Any], tenant_a: Any, tenant_b: Any
) -> None:
    analyst = api(tenant_a, "analyst")
    listed = analyst.get("/api/v1/connections")
    assert listed.status_code == 403 and listed.json()["error"]["code"] == "role_insufficient"
    assert analyst.post(f"/api/v1/connections/{pg_connection['id']}/test").status_code == 403
    other = api(tenant_b, "owner")
    assert other.get(f"/api/v1/connections/{pg_connection['id']}").status_code == 404
    assert other.get("/api/v1/connections").json()["total"] == 0
    assert other.get(f"/api/v1/connections/{pg_connection['id']}/sources").status_code == 404


def test_a_connection_in_use_cannot_be_deleted(
    steward_api: Any, make_study: Any, pg_connection: dict[str, Any]
) -> None:
    make_study("use-study")
    sync = _sync(steward_api, "use-study", pg_connection["id"], "demographics", "demographics", "demographics")
    assert sync.status_code == 201
    duplicate = _sync(steward_api, "use-study", pg_connection["id"], "adults", "demographics", "demographics")
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "sync_exists"
    missing = _sync(steward_api, "use-study", pg_connection["id"], "no_such_table", "other", "measure")
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "source_not_found"
    refused = steward_api.delete(f"/api/v1/connections/{pg_connection['id']}")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "connection_in_use"
    assert steward_api.delete(f"/api/v1/syncs/{sync.json()['id']}").status_code == 204
    assert steward_api.delete(f"/api/v1/connections/{pg_connection['id']}").status_code == 204


def test_schedule_and_secret_changes(
    steward_api: Any, make_study: Any, pg_connection: dict[str, Any], source_pg: dict[str, Any], tenant_a: Any
) -> None:
    make_study("patch-study")
    sync = _sync(steward_api, "patch-study", pg_connection["id"], "demographics", "demographics", "demographics")
    sync_id = sync.json()["id"]
    assert steward_api.patch(f"/api/v1/syncs/{sync_id}", {"schedule": "15 2 * * 1"}).json()["schedule"] == "15 2 * * 1"
    assert steward_api.patch(f"/api/v1/syncs/{sync_id}", {}).json()["schedule"] == "15 2 * * 1"  # absent: unchanged
    cleared = steward_api.patch(f"/api/v1/syncs/{sync_id}", {"schedule": None}).json()
    assert cleared["schedule"] is None and cleared["next_run_at"] is None

    url = f"/api/v1/connections/{pg_connection['id']}"
    wrong = steward_api.patch(url, {"config": {"user": "nobody_here"}})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "connection_failed"
    with tenant_context(tenant_a):
        assert Connection.objects.get(pk=pg_connection["id"]).config["user"] == source_pg["config"]["user"]
    replaced = steward_api.patch(url, {"secret": {"password": "another-secret-77"}})
    assert replaced.status_code == 200 and "another-secret-77" not in replaced.content.decode()
    with tenant_context(tenant_a):
        assert secret_decrypt(Connection.objects.get(pk=pg_connection["id"]).secret_token) == {
            "password": "another-secret-77"
        }


def test_a_run_whose_worker_went_away_is_failed_so_the_sync_can_run_again(
    steward_api: Any, make_study: Any, pg_connection: dict[str, Any], tenant_a: Any
) -> None:
    from connectors.tasks import sync_runs_reconcile
    from datasets.models import IngestJob

    make_study("lost-study")
    sync_id = _sync(
        steward_api, "lost-study", pg_connection["id"], "demographics", "demographics", "demographics"
    ).json()["id"]
    assert steward_api.post(f"/api/v1/syncs/{sync_id}/run").status_code == 202
    again = steward_api.post(f"/api/v1/syncs/{sync_id}/run")
    assert again.status_code == 409 and again.json()["error"]["code"] == "sync_running"
    with tenant_context(tenant_a):
        run = SyncRun.objects.get(sync_id=sync_id)
        assert sync_runs_reconcile() == 0  # a fresh pull is left alone
        IngestJob.objects.filter(pk=run.ingest_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
        assert sync_runs_reconcile() == 1
        run.refresh_from_db()
        assert run.status == "failed" and run.error_code == "worker_lost"
        assert IngestJob.objects.get(pk=run.ingest_id).status == "failed"
    assert steward_api.post(f"/api/v1/syncs/{sync_id}/run").status_code == 202


def test_a_suspended_workspace_pulls_nothing(
    steward_api: Any, make_study: Any, pg_connection: dict[str, Any], tenant_a: Any
) -> None:
    """A workspace the operators suspend (or that is scheduled for deletion) stops pulling from its sources with the
    credentials it holds: due syncs wait, and start at the first beat after it is resumed. Before, the beat kept
    reading the source into a workspace nobody could govern."""
    from django.db import connection

    from connectors.tasks import syncs_due
    from portal.deletion import workspace_delete_schedule
    from tenants.models import Tenant
    from tenants.suspension import tenant_resume, tenant_suspend

    make_study("frozen-study")
    created = _sync(steward_api, "frozen-study", pg_connection["id"], "demographics", "demographics", "demographics",
                    schedule="0 3 * * *")  # fmt: skip
    assert created.status_code == 201, created.content
    sync_id = created.json()["id"]

    def due_now() -> int:
        connection.set_schema_to_public()
        tenant = Tenant.objects.get(pk=tenant_a.pk)
        with tenant_context(tenant):
            Sync.objects.filter(pk=sync_id).update(next_run_at=timezone.now() - timedelta(minutes=1))
            return syncs_due()

    connection.set_schema_to_public()
    tenant_suspend(tenant=Tenant.objects.get(pk=tenant_a.pk), reason="incident")
    assert due_now() == 0
    connection.set_schema_to_public()
    tenant_resume(tenant=Tenant.objects.get(pk=tenant_a.pk))
    connection.set_schema_to_public()
    workspace_delete_schedule(tenant=Tenant.objects.get(pk=tenant_a.pk), grace_days=30)
    assert due_now() == 0
    with tenant_context(tenant_a):
        assert not SyncRun.objects.filter(sync_id=sync_id).exists()
    connection.set_schema_to_public()
    tenant_resume(tenant=Tenant.objects.get(pk=tenant_a.pk))
    assert due_now() == 1
