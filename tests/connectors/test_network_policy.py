"""Connections reach only the networks the operator allows; addresses are checked once and connected to directly."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from connectors.core import ConnectorError, NetworkPolicy
from connectors.core.network import pinned, resolve
from connectors.models import Connection

PRODUCTION = NetworkPolicy.parse(["public"])


def _refused(steward_api: Any, host: str, tenant: Any, port: int = 5432) -> dict[str, Any]:
    config = {"host": host, "port": port, "database": "clinic", "user": "reader", "sslmode": "disable"}
    response = steward_api.post(
        "/api/v1/connections",
        {"name": f"to-{host}", "kind": "postgresql", "config": config, "secret": {"password": "pw"}},
    )
    assert response.status_code == 422, response.content
    with tenant_context(tenant):
        assert not Connection.objects.exists()
    return response.json()["error"]


def test_the_cloud_metadata_address_is_refused(steward_api: Any, tenant_a: Any) -> None:
    error = _refused(steward_api, "169.254.169.254", tenant_a)
    assert error["code"] == "network_refused"
    assert "link-local" in error["message"] and "169.254.169.254" in error["message"]


def test_a_private_address_is_refused(steward_api: Any, tenant_a: Any) -> None:
    error = _refused(steward_api, "10.20.30.40", tenant_a)
    assert error["code"] == "network_refused"
    assert "private address" in error["message"]


def test_production_default_refuses_loopback_and_names_that_resolve_to_it(
    steward_api: Any, tenant_a: Any, settings: Any
) -> None:
    settings.BDT_CONNECTOR_NETWORKS = ["public"]
    for host in ("127.0.0.1", "localhost", "::1"):
        error = _refused(steward_api, host, tenant_a, port=6543)
        assert error["code"] == "network_refused", error
        assert "loopback" in error["message"]


def test_every_resolved_address_must_be_allowed() -> None:
    with pytest.raises(ConnectorError) as refused:
        resolve(PRODUCTION, "localhost", 80)
    assert refused.value.code == "network_refused"
    with pytest.raises(ConnectorError) as unknown:
        resolve(PRODUCTION, "no-such-host.invalid", 80)
    assert unknown.value.code == "host_not_found"


def test_policy_categories_and_explicit_networks() -> None:
    policy = NetworkPolicy.parse(["public", "10.1.0.0/16"], platform=[("8.8.8.8", 5432)])
    assert policy.refusal(ipaddress.ip_address("10.1.2.3"), 5432) is None
    assert "private" in (policy.refusal(ipaddress.ip_address("10.2.0.1"), 5432) or "")
    assert "link-local" in (policy.refusal(ipaddress.ip_address("169.254.169.254"), 80) or "")
    assert "link-local" in (policy.refusal(ipaddress.ip_address("::ffff:169.254.169.254"), 80) or "")
    assert "platform's own" in (policy.refusal(ipaddress.ip_address("8.8.8.8"), 5432) or "")
    assert policy.refusal(ipaddress.ip_address("8.8.8.8"), 443) is None
    with pytest.raises(ValueError, match="not a network"):
        NetworkPolicy.parse(["public", "intranet"])


def test_the_platforms_own_database_is_refused_by_name(steward_api: Any, tenant_a: Any, settings: Any) -> None:
    from connectors import policy

    policy.platform_endpoints.cache_clear()
    settings.BDT_CONNECTOR_NETWORKS = ["public"]
    database = settings.DATABASES["default"]
    try:
        error = _refused(steward_api, database["HOST"], tenant_a, port=int(database["PORT"] or 5432))
    finally:
        policy.platform_endpoints.cache_clear()
    assert error["code"] == "network_refused"
    assert "platform's own services" in error["message"]


def test_a_pinned_name_resolves_to_the_checked_address_in_this_thread_only() -> None:
    with pinned("data.example.invalid", "127.0.0.1"):
        infos = socket.getaddrinfo("data.example.invalid", 80, type=socket.SOCK_STREAM)
        assert {info[4][0] for info in infos} == {"127.0.0.1"}
    with pytest.raises(OSError):
        socket.getaddrinfo("data.example.invalid", 80, type=socket.SOCK_STREAM)
