"""A real worker drives a federated run to its end with nobody reading it: the last part's task advances it, a run
whose parts all reused finished results is advanced at creation, and the periodic sweep finishes a run whose parts
ended without a task of theirs. Reading afterwards changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from bdt_project.celery import app
from datasets.models import IngestJob
from harmonization.models import FederatedPart, FederatedRun
from harmonization.tasks import federated_runs_advance_all
from queries.models import QueryRun, RunStatus
from tenants.models import Tenant
from tenants.services import membership_set, tenant_create, user_get_or_create
from tenants.tokens import api_token_create
from tests.conftest import ApiClient
from tests.harmonization.conftest import AGE, IQ, SEX, _csv, alpha_rows, beta_rows
from tests.plugins.datasets import csv_upload
from tests.worker import wait_for

pytestmark = [pytest.mark.worker]

SLUG = "fed-workers"
FINISHED = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
PAYLOAD = {"studies": ["alpha", "beta"], "variables": ["age", "sex", "iq"]}


def _stored(tenant: Tenant, run_id: int) -> FederatedRun:
    """The run as stored (read from the table, never through the API's refreshing read)."""
    with tenant_context(tenant):
        run = FederatedRun.objects.get(pk=run_id)
    connection.set_schema_to_public()
    return run


def _finished(tenant: Tenant, run_id: int) -> FederatedRun | None:
    run = _stored(tenant, run_id)
    return run if run.status in FINISHED else None


def _events(tenant: Tenant, run_id: int) -> list[str]:
    with tenant_context(tenant):
        actions = list(
            AuditEvent.objects.filter(target_id=str(run_id), action__startswith="federated.run_")
            .order_by("id")
            .values_list("action", flat=True)
        )
    connection.set_schema_to_public()
    return actions


@pytest.fixture(scope="module")
def lab(celery_worker: Any, django_db_blocker: Any) -> Iterator[tuple[Tenant, ApiClient]]:
    """A committed workspace with the two differently coded studies (ingested by the worker) and the variables."""
    with django_db_blocker.unblock():
        tenant = tenant_create(slug=SLUG, name="Federated workers", domain=f"{SLUG}.test").tenant
        steward = user_get_or_create(email=f"steward@{SLUG}.test", password="correct-horse-battery-9")
        membership_set(tenant=tenant, user=steward, role="steward")
        client = ApiClient(host=f"{SLUG}.test", token=api_token_create(user=steward, tenant=tenant, name="w").plaintext)
        alpha, beta = alpha_rows(), beta_rows()
        jobs = []
        for slug, extra, files in (
            (
                "alpha",
                {},
                [
                    ("demographics", "demographics", _csv(alpha, ["participant_id", "age_years", "sex"])),
                    ("cognitive", "measure", _csv(alpha, ["participant_id", "iq"])),
                ],
            ),
            (
                "beta",
                {"session_column": "session"},
                [
                    ("demographics", "demographics", _csv(beta, ["participant_id", "session", "age_months", "gender"])),
                    ("iq_test", "measure", _csv(beta, ["participant_id", "session", "iq_score"])),
                ],
            ),
        ):
            made = client.post("/api/v1/studies", {"slug": slug, "name": slug, "id_column": "participant_id", **extra})
            assert made.status_code == 201, made.content
            for name, kind, text in files:
                sent = client.post(
                    f"/api/v1/studies/{slug}/datasets",
                    {"file": csv_upload(text, f"{name}.csv"), "name": name, "kind": kind},
                    multipart=True,
                )
                assert sent.status_code == 202, sent.content
                jobs.append(sent.json()["ingest"]["id"])
                ended = IngestJob.objects.filter(pk=jobs[-1], status__in=["succeeded", "failed"])
                with tenant_context(tenant):  # a measure needs its demographics registered first
                    job = wait_for(ended.first)
                    assert job.status == "succeeded", job.error_message
                connection.set_schema_to_public()
        for definition in (AGE, SEX, IQ):
            assert client.post("/api/v1/variables", definition).status_code == 201
        yield tenant, client
        connection.set_schema_to_public()


def test_the_worker_finishes_a_federated_run_nobody_reads(
    lab: tuple[Tenant, ApiClient], django_db_blocker: Any
) -> None:
    tenant, client = lab
    with django_db_blocker.unblock():
        created = client.post("/api/v1/federated/queries", PAYLOAD)
        assert created.status_code == 202, created.content
        run_id = created.json()["id"]
        done = wait_for(lambda: _finished(tenant, run_id))
        assert done.status == RunStatus.SUCCEEDED, done.error_message
        assert done.result_file and done.row_count == 40 + 60 and done.finished_at is not None
        assert _events(tenant, run_id) == ["federated.run_created", "federated.run_succeeded"]
        # Reading it now changes nothing and records nothing more, however often.
        for _ in range(2):
            body = client.get(f"/api/v1/federated/queries/{run_id}").json()
            assert (body["status"], body["row_count"]) == ("succeeded", 100)
        assert _stored(tenant, run_id).finished_at == done.finished_at
        assert _events(tenant, run_id) == ["federated.run_created", "federated.run_succeeded"]
        rows = client.get(f"/api/v1/federated/queries/{run_id}/rows?page_size=5").json()
        assert rows["total"] == 100 and len(rows["items"]) == 5


def test_a_run_whose_parts_all_reuse_finished_results_is_finished_at_creation(
    lab: tuple[Tenant, ApiClient], django_db_blocker: Any
) -> None:
    tenant, client = lab
    with django_db_blocker.unblock():
        first = client.post("/api/v1/federated/queries", {**PAYLOAD, "variables": ["age"]}).json()["id"]
        assert wait_for(lambda: _finished(tenant, first)).status == RunStatus.SUCCEEDED
        again = client.post("/api/v1/federated/queries", {**PAYLOAD, "variables": ["age"]})
        assert again.status_code == 202, again.content
        # no part of the new run executes (each is the finished identical run): the creation queued the advance
        done = wait_for(lambda: _finished(tenant, again.json()["id"]))
    assert done.status == RunStatus.SUCCEEDED and done.row_count == 100


def test_the_sweep_finishes_a_run_whose_parts_ended_without_their_task(
    lab: tuple[Tenant, ApiClient], celery_worker: Any, django_db_blocker: Any
) -> None:
    tenant, client = lab
    node = celery_worker.node
    payload = {**PAYLOAD, "filters": [{"variable": "age", "op": "gte", "value": 41}]}
    app.control.cancel_consumer("queries", destination=[node], reply=True)  # the parts' tasks wait in the queue
    try:
        with django_db_blocker.unblock():
            created = client.post("/api/v1/federated/queries", payload)
            assert created.status_code == 202, created.content
            run_id = created.json()["id"]
            with tenant_context(tenant):  # as the reaper leaves them when their worker died: no task reported
                parts = FederatedPart.objects.filter(federated_id=run_id).values_list("run_id", flat=True)
                assert QueryRun.objects.filter(pk__in=parts, status=RunStatus.QUEUED).count() == 2
                QueryRun.objects.filter(pk__in=parts).update(
                    status=RunStatus.FAILED, error_code="worker_lost", error_message="The worker was lost."
                )
            connection.set_schema_to_public()
            assert _stored(tenant, run_id).status == RunStatus.QUEUED
            assert federated_runs_advance_all.apply_async(queue="default").get(timeout=60) >= 1
            done = _stored(tenant, run_id)
            assert (done.status, done.error_code) == (RunStatus.FAILED, "worker_lost")
            assert done.error_message == "alpha: The worker was lost." and not done.result_file
            assert _events(tenant, run_id) == ["federated.run_created", "federated.run_failed"]
            body = client.get(f"/api/v1/federated/queries/{run_id}").json()
            assert body["status"] == "failed" and _events(tenant, run_id)[-1] == "federated.run_failed"
    finally:
        app.control.add_consumer("queries", destination=[node], reply=True)
