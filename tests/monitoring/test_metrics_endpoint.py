"""``GET /metrics``: only on the platform host, only with the operators' bearer token."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client, override_settings

from tests.gunicorn_server import LiveServer
from tests.monitoring.conftest import PLATFORM_HOST, MonWorld


def _error(body: bytes) -> dict[str, object]:
    document = json.loads(body)
    assert set(document["error"]) == {"code", "message", "details"}
    return document["error"]  # type: ignore[no-any-return]


def test_without_a_token_the_answer_is_401_and_says_how_to_authenticate(mon_server: LiveServer) -> None:
    status, headers, body = mon_server.request(PLATFORM_HOST, "GET", "/metrics")
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    assert _error(body)["code"] == "not_authenticated"
    assert b"bdt_http" not in body


@pytest.mark.parametrize(
    "authorization",
    ["Bearer wrong-token", "Bearer " + "x" * 200, "Basic dXNlcjpwYXNz", "Bearer"],
)
def test_a_wrong_or_malformed_credential_never_reveals_metrics(mon_server: LiveServer, authorization: str) -> None:
    status, _, body = mon_server.request(PLATFORM_HOST, "GET", "/metrics", headers={"Authorization": authorization})
    assert status in {401, 403}
    assert _error(body)["code"] in {"not_authenticated", "forbidden"}
    assert b"bdt_" not in body


def test_a_workspace_token_or_a_workspace_host_gets_nothing(mon_server: LiveServer, mon_world: MonWorld) -> None:
    """The attack: a member points their personal access token (or the real metrics token) at /metrics of their
    own workspace host. The endpoint exists only on the platform host."""
    as_member = {"Authorization": f"Bearer {mon_world.token}"}
    status, _, body = mon_server.request(PLATFORM_HOST, "GET", "/metrics", headers=as_member)
    assert status == 403 and b"bdt_" not in body
    with_metrics_token = {"Authorization": f"Bearer {settings.METRICS_TOKEN}"}
    status, _, body = mon_server.request(mon_world.host, "GET", "/metrics", headers=with_metrics_token)
    assert status in {302, 404} and b"bdt_" not in body  # a workspace page: sign in first, and then 404


def test_the_right_token_on_the_platform_host_gets_prometheus_text(mon_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {settings.METRICS_TOKEN}"}
    status, response_headers, body = mon_server.request(PLATFORM_HOST, "GET", "/metrics", headers=headers)
    assert status == 200
    assert response_headers["content-type"].startswith("text/plain; version=")
    text = body.decode()
    assert "# TYPE bdt_http_request_duration_seconds histogram" in text
    assert "# TYPE bdt_celery_queue_length gauge" in text
    status, _, _ = mon_server.request(PLATFORM_HOST, "POST", "/metrics", headers=headers)
    assert status == 405


@pytest.mark.django_db
def test_without_a_configured_token_the_endpoint_does_not_exist() -> None:
    client = Client(HTTP_HOST=PLATFORM_HOST)
    configured = settings.METRICS_TOKEN
    assert client.get("/metrics", headers={"Authorization": f"Bearer {configured}"}).status_code == 200
    with override_settings(METRICS_TOKEN=""):
        for credential in ("Bearer ", "Bearer x", f"Bearer {configured}"):
            response = client.get("/metrics", headers={"Authorization": credential})
            assert response.status_code == 404
            assert b"bdt_" not in response.content
