"""The permission matrix of docs/permissions.md, walked over the API: every role/level x every action."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from access.models import Grant
from access.services import grant_revoke

pytestmark = pytest.mark.django_db

SPEC = {
    "filters": [{"dataset": "cognitive", "column": "score", "op": "gte", "value": 1}],
    "columns": {"cognitive": ["score"]},
}
ACTIONS = ("count", "run", "rows", "report", "plot", "export", "grant", "decide")
ALL = set(ACTIONS)
# docs/permissions.md, "Capability matrix" (plot = query, decide = steward/owner: see the docs).
MATRIX: dict[str, set[str]] = {
    "owner": ALL,
    "steward": ALL,
    "analyst:manage": ALL - {"decide"},
    "analyst:export": {"count", "run", "rows", "report", "plot", "export"},
    "analyst:query": {"count", "run", "rows", "report", "plot"},
    "analyst:count": {"count", "report"},
    "analyst:metadata": set(),
    "viewer": set(),
}


def _client(who: str, api: Any, analyst_at: Any, tenant_a: Any) -> Any:
    if who.startswith("analyst:"):
        return analyst_at(who.split(":")[1])
    return api(tenant_a, who)


def _own_run(client: Any, who: str, grant: Any, execute: Any, tenant_a: Any, steward: Any) -> int | None:
    """A succeeded run of SPEC owned by ``client`` (made with a temporary query grant when needed)."""
    if who == "viewer":
        return None
    temporary = None
    if who in ("analyst:count", "analyst:metadata"):
        temporary = grant(client.user, "query")
    response = client.post("/api/v1/studies/gov/queries", SPEC)
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    assert execute(run_id) == "succeeded"
    if temporary is not None:
        with tenant_context(tenant_a):
            grant_revoke(tenant=tenant_a, actor=steward.user, grant=Grant.objects.get(pk=temporary.pk))
        connection.set_schema_to_public()
    return int(run_id)


@pytest.mark.parametrize("who", list(MATRIX))
def test_permission_matrix(
    who, gov, api, analyst_at, tenant_a, grant, execute, steward_api, consortium_default
) -> None:
    if not who.startswith("analyst:"):
        consortium_default("metadata")  # so the requester below has something to ask for
    client = _client(who, api, analyst_at, tenant_a)
    run_id = _own_run(client, who, grant, execute, tenant_a, steward_api)
    other = api(tenant_a, "analyst")
    asked = other.post(
        "/api/v1/access-requests",
        {"study": "gov", "datasets": ["cognitive"], "level": "query", "purpose": "matrix", "accept_terms": True},
    )
    assert asked.status_code == 201, asked.content
    outcomes = {
        "count": client.post("/api/v1/studies/gov/count", SPEC),
        "run": client.post(
            "/api/v1/studies/gov/queries", {**SPEC, "columns": {"cognitive": ["score"]}, "shape": "wide"}
        ),
        "rows": client.get(f"/api/v1/queries/{run_id or 999999}/rows"),
        "report": client.get(f"/api/v1/queries/{run_id or 999999}/report"),
        "plot": client.post(f"/api/v1/queries/{run_id or 999999}/analysis", {"kind": "describe", "column": "score"}),
        "export": client.get(f"/api/v1/queries/{run_id or 999999}/export?format=csv&purpose=matrix"),
        "grant": client.post(
            "/api/v1/studies/gov/datasets/cognitive/grants", {"email": other.user.email, "level": "count"}
        ),
        "decide": client.post(
            f"/api/v1/access-requests/{asked.json()['id']}/decision",
            {"decision": "approve", "level": "count", "reason": "ok"},
        ),
    }
    for action, response in outcomes.items():
        allowed = action in MATRIX[who]
        if allowed:
            assert response.status_code in (200, 201, 202), (who, action, response.content)
        elif action == "decide":  # another member's request is not visible to an analyst (404), nor to a viewer
            assert response.status_code in (403, 404), (who, action, response.status_code, response.content)
        else:
            assert response.status_code == 403, (who, action, response.status_code, response.content)
            code = response.json()["error"]["code"]
            expected = "role_insufficient" if who == "viewer" and action != "grant" else "access_level_insufficient"
            assert code == expected, (who, action, code)
            if code == "access_level_insufficient" and action != "grant":
                assert response.json()["error"]["details"]["needed"] in {"count", "query", "export"}


# A contributed study in a consortium: the same actions, for an analyst granted export there, capped by the
# contributing lab's ceiling (docs/permissions.md, "Sharing"); the run was made while the ceiling was export.
CEILING_MATRIX: dict[str, set[str]] = {
    "export": {"count", "run", "rows", "report", "plot", "export"},
    "query": {"count", "run", "rows", "report", "plot"},
    "count": {"count", "report"},
}


@pytest.mark.parametrize("ceiling", list(CEILING_MATRIX))
def test_permission_matrix_of_a_contributed_study(
    ceiling, gov, steward_api, api, consortium, cons_steward, run_in
) -> None:
    from tests.plugins.sharing import offer_and_accept

    cid = offer_and_accept(steward_api, cons_steward, "gov", "gov-m")
    client = api(consortium, "analyst")
    for dataset in ("demographics", "cognitive"):
        made = cons_steward.post(
            f"/api/v1/studies/gov-m/datasets/{dataset}/grants", {"email": client.user.email, "level": "export"}
        )
        assert made.status_code == 201, made.content
    response = client.post("/api/v1/studies/gov-m/queries", SPEC)
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    assert run_in(consortium, run_id) == "succeeded"
    assert steward_api.patch(f"/api/v1/contributions/{cid}", {"level": ceiling}).status_code == 200
    outcomes = {
        "count": client.post("/api/v1/studies/gov-m/count", SPEC),
        "run": client.post("/api/v1/studies/gov-m/queries", {**SPEC, "shape": "wide"}),
        "rows": client.get(f"/api/v1/queries/{run_id}/rows"),
        "report": client.get(f"/api/v1/queries/{run_id}/report"),
        "plot": client.post(f"/api/v1/queries/{run_id}/analysis", {"kind": "describe", "column": "score"}),
        "export": client.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=matrix"),
    }
    for action, answer in outcomes.items():
        if action in CEILING_MATRIX[ceiling]:
            assert answer.status_code in (200, 201, 202), (ceiling, action, answer.content)
        else:
            assert answer.status_code == 403, (ceiling, action, answer.status_code, answer.content)
            assert answer.json()["error"]["code"] == "access_level_insufficient", (ceiling, action)
    used = {item["action"] for item in steward_api.get(f"/api/v1/contributions/{cid}/usage").json()["items"]}
    assert used >= {"run", "count", "report", *({"rows", "analysis"} if ceiling != "count" else set())}, used
    assert steward_api.delete(f"/api/v1/contributions/{cid}").status_code == 200
    for action, answer in {
        "count": client.post("/api/v1/studies/gov-m/count", SPEC),
        "rows": client.get(f"/api/v1/queries/{run_id}/rows"),
        "report": client.get(f"/api/v1/queries/{run_id}/report"),
        "plot": client.post(f"/api/v1/queries/{run_id}/analysis", {"kind": "describe", "column": "score"}),
        "export": client.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=matrix"),
    }.items():
        assert answer.status_code == 403, (action, answer.content)
        assert answer.json()["error"]["code"] == "contribution_withdrawn", action
