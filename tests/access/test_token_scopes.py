"""Token scopes and token lineage (issue 10, finding 8), replayed against the real API.

The attack: a 1-day token minted a 365-day token that survived the parent's revocation. And every token carried
the member's full power, so a script that only needs counts held the keys to rows, exports, grants and members.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.errors import Forbidden
from tenants.models import ApiToken
from tenants.token_scopes import COMPUTE_ROUTES, COUNT_ROUTES, route_key
from tenants.tokens import api_token_create
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

SMALL = {"filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 5}]}  # 5 participants


def _scoped(client: ApiClient, tenant: Any, scope: str, days: int | None = None) -> ApiClient:
    token = api_token_create(user=client.user, tenant=tenant, name=f"{scope} script", scope=scope, expires_days=days)
    scoped = ApiClient(host=client.host, token=token.plaintext)
    scoped.user = client.user  # type: ignore[attr-defined]
    return scoped


def _refused(response: Any) -> bool:
    return response.status_code == 403 and response.json()["error"]["code"] == "token_scope"


def test_a_token_cannot_mint_a_token_that_outlives_it(api, tenant_a) -> None:
    owner = api(tenant_a, "owner")
    short = _scoped(owner, tenant_a, "full", days=1)
    attack = short.post("/api/v1/tokens", {"name": "forever", "expires_days": 365})
    assert attack.status_code == 422 and attack.json()["error"]["code"] == "token_outlives_parent"
    # Without a lifetime, the child gets at most the parent's.
    child = short.post("/api/v1/tokens", {"name": "child"})
    assert child.status_code == 201, child.content
    parent_expiry = ApiToken.objects.get(prefix=short.token.split("_")[1]).expires_at
    assert parent_datetime(child.json()["expires_at"]) <= parent_expiry
    grandchild_client = ApiClient(host=owner.host, token=child.json()["token"])
    grandchild = grandchild_client.post("/api/v1/tokens", {"name": "grandchild", "scope": "count"}).json()
    assert grandchild["parent"] == child.json()["prefix"]
    # Revoking the parent revokes every token it created, at any depth.
    parent_id = ApiToken.objects.get(prefix=short.token.split("_")[1]).pk
    assert owner.delete(f"/api/v1/tokens/{parent_id}").status_code == 200
    for client in (short, grandchild_client, ApiClient(host=owner.host, token=grandchild["token"])):
        assert client.get("/api/v1/me").status_code == 401


def parent_datetime(value: str) -> Any:
    parsed = parse_datetime(value)
    assert parsed is not None
    return parsed


def test_a_token_can_only_create_narrower_tokens(api, tenant_a) -> None:
    member = api(tenant_a, "analyst")
    read = ApiToken.objects.get(prefix=_scoped(member, tenant_a, "read").token.split("_")[1])
    with pytest.raises(Forbidden) as refused:
        api_token_create(user=member.user, tenant=tenant_a, name="wider", scope="full", parent=read)
    assert refused.value.code == "scope_beyond_parent"
    assert api_token_create(user=member.user, tenant=tenant_a, name="narrower", scope="count", parent=read)


def test_read_tokens_read_and_compute_but_change_nothing(api, tenant_a, gov, steward_api, execute) -> None:
    steward = api(tenant_a, "steward")
    read = _scoped(steward, tenant_a, "read")
    assert read.get("/api/v1/studies/gov").status_code == 200
    assert read.post("/api/v1/studies/gov/count", SMALL).json()["participants"] == 5  # exact: no level cap here
    assert read.get("/api/v1/members").status_code == 200
    assert read.get("/api/v1/studies/gov/datasets/cognitive/grants").status_code == 200  # a steward's read
    for response in (
        read.patch("/api/v1/studies/gov", {"description": "changed by a read-only token"}),
        read.post("/api/v1/studies", {"slug": "nope", "name": "Nope", "id_column": "participant_id"}),
        read.post("/api/v1/studies/gov/queries", {}),
        read.post("/api/v1/tokens", {"name": "more"}),
        read.delete(f"/api/v1/tokens/{ApiToken.objects.filter(user=steward.user).first().pk}"),
        read.post("/api/v1/members", {"email": "someone@example.org", "role": "analyst"}),
        read.post("/api/v1/studies/gov/datasets/cognitive/grants", {"email": steward.user.email, "level": "count"}),
    ):
        assert _refused(response), response.content
    assert steward_api.get("/api/v1/studies/gov").json()["description"] != "changed by a read-only token"


def test_count_tokens_cap_even_an_owner_at_the_count_level(api, tenant_a, gov, execute) -> None:
    owner = api(tenant_a, "owner")
    run_id = owner.post("/api/v1/studies/gov/queries", {"columns": {"cognitive": ["score"]}}).json()["id"]
    assert execute(run_id) == "succeeded"
    count = _scoped(owner, tenant_a, "count")
    assert count.get("/api/v1/me").json()["token_scope"] == "count"
    assert owner.post("/api/v1/studies/gov/count", SMALL).json()["participants"] == 5
    small = count.post("/api/v1/studies/gov/count", SMALL).json()
    assert small["suppressed"] is True and small["participants"] is None  # what a count-level member sees
    assert count.get("/api/v1/studies/gov/datasets").status_code == 200  # the catalog is a count-level surface
    report = count.get(f"/api/v1/queries/{run_id}/report")
    assert report.status_code == 200 and report.json()["aggregate_only"] is True  # protected like a count
    assert owner.get(f"/api/v1/queries/{run_id}/report").json()["aggregate_only"] is False
    for response in (
        count.get(f"/api/v1/queries/{run_id}/rows"),
        count.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=x"),
        count.get("/api/v1/members"),
        count.get("/api/v1/audit"),
        count.get("/api/v1/tokens"),
        count.post(f"/api/v1/queries/{run_id}/analysis", {"kind": "describe", "column": "score"}),
    ):
        assert _refused(response), response.content
    explained = count.get(f"/api/v1/access/explain?email={owner.user.email}&study=gov&dataset=cognitive")
    assert _refused(explained)


def _openapi_operations(client: ApiClient) -> list[tuple[str, str]]:
    schema = client.get("/api/v1/openapi.json").json()
    return [
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_every_endpoint_is_classified_and_enforced(api, tenant_a) -> None:
    """Walk the whole API: a read token is refused on every write, a count token on every non-count surface, and
    neither is refused on what its scope allows (the table in tenants/token_scopes.py covers every route)."""
    owner = api(tenant_a, "owner")
    operations = _openapi_operations(owner)
    routes = {(method, route_key(path.removeprefix("/api/v1"))) for method, path in operations}
    assert routes >= COMPUTE_ROUTES and routes >= COUNT_ROUTES  # no stale entries
    read, count = _scoped(owner, tenant_a, "read"), _scoped(owner, tenant_a, "count")
    checked = 0
    for method, path in operations:
        if path == "/api/v1/health":
            continue
        concrete = re.sub(r"\{[^}]*\}", "1", path)
        key = (method, route_key(path.removeprefix("/api/v1")))
        call = {"GET": "get", "POST": "post", "PUT": "put", "PATCH": "patch", "DELETE": "delete"}[method]
        args: tuple[Any, ...] = (concrete,) if method in {"GET", "DELETE"} else (concrete, {})
        read_answer = getattr(read, call)(*args)
        count_answer = getattr(count, call)(*args)
        read_allowed = method == "GET" or key in COMPUTE_ROUTES
        assert _refused(read_answer) is not read_allowed, (method, path, read_answer.content[:200])
        assert _refused(count_answer) is not (key in COUNT_ROUTES), (method, path, count_answer.content[:200])
        checked += 1
    assert checked > 60


def test_scoped_tokens_are_listed_with_their_scope_and_parent(api, tenant_a) -> None:
    member = api(tenant_a, "analyst")
    created = member.post("/api/v1/tokens", {"name": "counts only", "scope": "count", "expires_days": 7})
    assert created.status_code == 201 and created.json()["scope"] == "count"
    listed = {t["name"]: t for t in member.get("/api/v1/tokens").json()["items"]}
    assert listed["counts only"]["scope"] == "count" and listed["counts only"]["parent"] == member.token.split("_")[1]
    assert listed["test"]["scope"] == "full" and listed["test"]["parent"] is None
    bad = member.post("/api/v1/tokens", {"name": "x", "scope": "admin"})
    assert bad.status_code == 422
    expiring = ApiToken.objects.get(name="counts only", user=member.user)
    assert timezone.now() + timedelta(days=6) < expiring.expires_at <= timezone.now() + timedelta(days=7)
