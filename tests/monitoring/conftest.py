"""Monitoring tests: a workspace with committed data, a real gunicorn (2 workers) and the suite's Celery worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.gunicorn_server import LiveServer, server_start

MON_TENANT = ("lab-mon", "Lab Monitoring", "lab-mon.test")
PLATFORM_HOST = "platform.test"  # settings.PUBLIC_DOMAIN under the test settings
DEMOGRAPHICS = "participant_id,session,age\n" + "".join(
    f"M{i:03d},{session},{30 + i}\n" for i in range(1, 41) for session in ("BAS1", "FU1")
)


@dataclass
class MonWorld:
    host: str
    token: str
    user_id: int
    study: str


@pytest.fixture(scope="package")
def mon_world(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> MonWorld:
    from django.db import connection, connections
    from django_tenants.utils import tenant_context

    from datasets.services import ingest_file_sync, study_create
    from tenants.roles import Role
    from tenants.services import membership_set, tenant_create, user_get_or_create
    from tenants.tokens import api_token_create

    slug, name, host = MON_TENANT
    with django_db_blocker.unblock():
        try:
            tenant = tenant_create(slug=slug, name=name, domain=host).tenant
            user = user_get_or_create(email="mon-owner@example.org", password="mon-correct-horse-9")
            membership_set(tenant=tenant, user=user, role=Role.OWNER)
            token = api_token_create(user=user, tenant=tenant, name="monitoring").plaintext
            path = tmp_path_factory.mktemp("mon") / "demographics.csv"
            path.write_text(DEMOGRAPHICS, encoding="utf-8")
            with tenant_context(tenant):
                study = study_create(
                    tenant=tenant, actor=None, slug="mon", name="Monitored", id_column="participant_id",
                    session_column="session",
                )  # fmt: skip
                job = ingest_file_sync(study=study, path=path, dataset_name="demographics", kind="demographics")
                assert job.status == "succeeded", job.error_message
            connection.set_schema_to_public()
            return MonWorld(host=host, token=token, user_id=user.pk, study="mon")
        finally:
            connections.close_all()


@pytest.fixture(scope="package")
def mon_server(mon_world: MonWorld, test_db_name: str) -> Iterator[LiveServer]:
    server = server_start(test_db_name, "monitoring", workers=2)
    yield server
    server.stop()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_samples(text: str) -> Samples:
    """Prometheus text format -> {(sample name, sorted labels): value}."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return samples


def sample(samples: Samples, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent: a counter that never moved has no sample yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def scrape(mon_server: LiveServer) -> Callable[[], Samples]:
    """``scrape()`` -> the samples of ``GET /metrics`` on the platform host, with the metrics token."""
    from django.conf import settings

    def _scrape() -> Samples:
        status, headers, body = mon_server.request(
            PLATFORM_HOST, "GET", "/metrics", headers={"Authorization": f"Bearer {settings.METRICS_TOKEN}"}
        )
        assert status == 200, body[:300]
        assert headers["content-type"].startswith("text/plain")
        return parse_samples(body.decode())

    return _scrape
