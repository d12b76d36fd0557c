"""Regression tests of the governance review: self-escalation by dataset managers, and count surfaces of runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from access.models import Grant
from access.services import grant_revoke

pytestmark = pytest.mark.django_db

SPEC = {
    "filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 13}],
    "columns": {"cognitive": ["score"]},
}


def test_dataset_manager_cannot_grant_themselves_or_their_team(gov, analyst_at, grant, steward_api) -> None:
    manager = analyst_at("count")
    grant(manager.user, "manage", dataset="cognitive")
    url = "/api/v1/studies/gov/datasets/cognitive/grants"

    own = manager.post(url, {"email": manager.user.email, "level": "export"})
    assert own.status_code == 403, own.content
    assert own.json()["error"]["code"] == "self_grant"
    assert "yourself" in own.json()["error"]["message"]

    team = steward_api.post("/api/v1/teams", {"name": "Managers"})
    assert team.status_code == 201, team.content
    added = steward_api.post("/api/v1/teams/managers/members", {"email": manager.user.email})
    assert added.status_code == 201, added.content
    via_team = manager.post(url, {"team": "managers", "level": "export"})
    assert via_team.status_code == 403, via_team.content
    assert via_team.json()["error"]["code"] == "self_grant"


def test_dataset_manager_grants_identifying_only_when_holding_it(gov, analyst_at, grant, api, tenant_a) -> None:
    manager = analyst_at("count")
    grant(manager.user, "manage", dataset="cognitive")
    colleague = api(tenant_a, "analyst")
    url = "/api/v1/studies/gov/datasets/cognitive/grants"

    refused = manager.post(url, {"email": colleague.user.email, "level": "query", "identifying": True})
    assert refused.status_code == 403, refused.content
    assert refused.json()["error"]["code"] == "identifying_not_held"

    plain = manager.post(url, {"email": colleague.user.email, "level": "query"})
    assert plain.status_code == 201, plain.content

    holder = analyst_at("count")
    grant(holder.user, "manage", dataset="cognitive", identifying=True)
    allowed = holder.post(url, {"email": colleague.user.email, "level": "query", "identifying": True})
    assert allowed.status_code == 201, allowed.content


def test_dataset_manager_grants_cannot_outlive_their_own_manage_grant(gov, analyst_at, grant, api, tenant_a) -> None:
    ends = timezone.now() + timedelta(days=30)
    manager = analyst_at("count")
    grant(manager.user, "manage", dataset="cognitive", expires_at=ends)
    colleague = api(tenant_a, "analyst")
    url = "/api/v1/studies/gov/datasets/cognitive/grants"

    forever = manager.post(url, {"email": colleague.user.email, "level": "query"})
    assert forever.status_code == 422, forever.content
    assert forever.json()["error"]["code"] == "expiry_beyond_own_grant"
    assert "must expire by then" in forever.json()["error"]["message"]
    later = manager.post(
        url, {"email": colleague.user.email, "level": "query", "expires_at": (ends + timedelta(days=1)).isoformat()}
    )
    assert later.status_code == 422 and later.json()["error"]["code"] == "expiry_beyond_own_grant"

    within = manager.post(
        url, {"email": colleague.user.email, "level": "query", "expires_at": (ends - timedelta(days=1)).isoformat()}
    )
    assert within.status_code == 201, within.content


def _run_then_lower(client: Any, grant: Any, execute: Any, tenant_a: Any, steward: Any) -> int:
    """A succeeded run of SPEC (13 participants) made by ``client`` with a query grant that is then revoked."""
    temporary = grant(client.user, "query")
    response = client.post("/api/v1/studies/gov/queries", SPEC)
    assert response.status_code == 202, response.content
    run_id = int(response.json()["id"])
    assert execute(run_id) == "succeeded"
    with tenant_context(tenant_a):
        grant_revoke(tenant=tenant_a, actor=steward.user, grant=Grant.objects.get(pk=temporary.pk))
    connection.set_schema_to_public()
    return run_id


def test_run_row_count_is_protected_once_the_caller_is_count_only(
    gov, analyst_at, grant, execute, tenant_a, steward_api
) -> None:
    analyst = analyst_at("count")
    run_id = _run_then_lower(analyst, grant, execute, tenant_a, steward_api)

    shown = analyst.get(f"/api/v1/queries/{run_id}")
    assert shown.status_code == 200, shown.content
    # 13 rows (at least k=10): the cell-key method's number for the run's set, the same as the live count of it
    live = analyst.post("/api/v1/studies/gov/count", SPEC).json()
    assert shown.json()["row_count"] == live["rows"] and (live["suppressed"] or abs(live["rows"] - 13) <= 3)
    exact = steward_api.get(f"/api/v1/queries/{run_id}")
    assert exact.json()["row_count"] == 13


def test_run_row_count_is_hidden_below_count(gov, analyst_at, grant, execute, tenant_a, steward_api) -> None:
    analyst = analyst_at("metadata")
    run_id = _run_then_lower(analyst, grant, execute, tenant_a, steward_api)
    shown = analyst.get(f"/api/v1/queries/{run_id}")
    assert shown.status_code == 200, shown.content
    assert shown.json()["row_count"] is None


def test_run_pages_and_compare_protect_counts_for_count_only_callers(
    gov, analyst_at, grant, execute, tenant_a, steward_api, browser_of
) -> None:
    analyst = analyst_at("count")
    run_id = _run_then_lower(analyst, grant, execute, tenant_a, steward_api)
    rerun = steward_api.post(f"/api/v1/queries/{run_id}/rerun")  # a steward may rerun anyone's run
    assert rerun.status_code == 202, rerun.content
    assert execute(rerun.json()["id"]) == "succeeded"
    browser = browser_of(analyst.user)

    live = analyst.post("/api/v1/studies/gov/count", SPEC).json()["rows"]  # the same set as the run's result
    panel = browser.get(f"/queries/runs/{run_id}/panel/")
    assert panel.status_code == 200
    assert f">{live}</strong>".encode() in panel.content and b"data-perturbed" in panel.content
    listing = browser.get("/queries/runs/")
    assert listing.status_code == 200
    assert f">{live}<".encode() in listing.content

    with tenant_context(tenant_a):
        from queries.models import QueryRun

        QueryRun.objects.filter(pk=rerun.json()["id"]).update(created_by=analyst.user)
    connection.set_schema_to_public()
    compare = browser.get(f"/queries/runs/{rerun.json()['id']}/compare/{run_id}/")
    assert compare.status_code == 200, compare.content
    text = compare.content.decode()
    assert f">{live}<" in text
    assert "Rows in the result" in text
    assert " rows, " not in text and " participants, " not in text  # no exact size of the versions read

    exact = browser_of(steward_api.user).get(f"/queries/runs/{rerun.json()['id']}/compare/{run_id}/")
    assert ">13<" in exact.content.decode()
    assert "60 participants" in exact.content.decode()  # the demographics version read, exactly


def test_value_search_lists_only_values_of_at_least_k_people_below_query(gov, analyst_at, browser_of) -> None:
    def search(client: Any, column: str, text: str) -> str:
        params = {"row": "0", "f-0-dataset": "demographics", "f-0-column": column, "f-0-q": text}
        response = client.get("/queries/gov/values/", params)
        assert response.status_code == 200, response.content
        return response.content.decode()

    counted = browser_of(analyst_at("count").user)
    assert "Person 12" not in search(counted, "name", "Person")  # one person each: never listed
    assert 'value="F"' in search(counted, "sex", "F")  # 30 people: listed
    full = browser_of(analyst_at("query").user)
    assert "Person 12" in search(full, "name", "Person 1")


def test_lineage_and_recent_runs_show_sizes_only_at_query_level(
    gov, analyst_at, grant, execute, tenant_a, steward_api, browser_of
) -> None:
    """A run exported while its maker had export access, read after a downgrade to count: the lineage (API and run
    page) showed every export's exact row count and the builder's recent runs the run's; now the exports' rows are
    hidden below query level and the recent runs show the protected number, as the run list does."""
    analyst = analyst_at("count")
    temporary = grant(analyst.user, "export")
    made = analyst.post("/api/v1/studies/gov/queries", SPEC)
    assert made.status_code == 202, made.content
    run_id = int(made.json()["id"])
    assert execute(run_id) == "succeeded"
    exported = analyst.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=cohort+check")
    assert exported.status_code == 200, exported.content
    assert analyst.get(f"/api/v1/queries/{run_id}/lineage").json()["exports"][0]["rows"] == 13
    with tenant_context(tenant_a):
        grant_revoke(tenant=tenant_a, actor=steward_api.user, grant=Grant.objects.get(pk=temporary.pk))
    connection.set_schema_to_public()

    assert [e["rows"] for e in analyst.get(f"/api/v1/queries/{run_id}/lineage").json()["exports"]] == [None]
    assert steward_api.get(f"/api/v1/queries/{run_id}/lineage").json()["exports"][0]["rows"] == 13
    browser = browser_of(analyst.user)
    run_page = browser.get(f"/queries/runs/{run_id}/").content.decode()
    assert 'title="Your access is below row level">—</span>' in run_page
    live = analyst.post("/api/v1/studies/gov/count", SPEC).json()["rows"]  # the same set: the protected number
    builder = browser.get("/queries/gov/").content.decode()
    assert f"Run #{run_id}</a>" in builder and f"{live} rows · " in builder
