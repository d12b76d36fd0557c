"""A lab the platform operators suspend can neither withdraw, lower its ceiling nor read its usage report: while it
is suspended the consortium's copy answers as withdrawn (count, rows, exports of earlier runs, new runs, catalog,
requests beyond the ceiling); resuming brings it back. Before, the consortium kept reading the lab's data with
nobody able to stop it."""

from __future__ import annotations

import pytest
from django.db import connection

from tenants.models import Tenant
from tenants.suspension import tenant_resume, tenant_suspend
from tests.plugins.sharing import error_code, grant_datasets, offer_and_accept

pytestmark = pytest.mark.django_db

COUNT = {"filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 43}]}
RUN = {**COUNT, "columns": {"cognitive": ["score"]}}


def test_a_suspended_lab_stops_its_contributions(
    gov, steward_api, cons_steward, consortium, api, run_in, tenant_a
) -> None:
    cid = offer_and_accept(steward_api, cons_steward, "gov", "gov-s", level="export")
    member = api(consortium, "analyst")
    grant_datasets(cons_steward, member, "gov-s", "export")
    run = member.post("/api/v1/studies/gov-s/queries", RUN)
    assert run.status_code == 202, run.content
    run_id = run.json()["id"]
    assert run_in(consortium, run_id) == "succeeded"
    assert member.get(f"/api/v1/queries/{run_id}/rows").status_code == 200

    connection.set_schema_to_public()
    tenant_suspend(tenant=Tenant.objects.get(pk=tenant_a.pk), reason="incident")
    connection.set_schema_to_public()
    assert steward_api.get("/api/v1/contributions").status_code == 403  # the lab cannot act on its contribution
    assert error_code(member.post("/api/v1/studies/gov-s/count", COUNT)) == "contribution_withdrawn"
    assert error_code(member.get(f"/api/v1/queries/{run_id}/rows")) == "contribution_withdrawn"
    assert error_code(member.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=x")) == "contribution_withdrawn"
    assert error_code(member.post("/api/v1/studies/gov-s/queries", RUN)) == "contribution_withdrawn"
    assert error_code(member.get("/api/v1/studies/gov-s/datasets")) == "contribution_withdrawn"
    assert "gov-s" not in {s["slug"] for s in member.get("/api/v1/studies").json()["items"]}
    asked = member.post(
        f"/api/v1/contributions/{cid}/requests", {"level": "export", "purpose": "x", "accept_terms": True}
    )
    assert asked.status_code == 403 and error_code(asked) == "contribution_withdrawn"

    connection.set_schema_to_public()
    tenant_resume(tenant=Tenant.objects.get(pk=tenant_a.pk))
    connection.set_schema_to_public()
    assert member.post("/api/v1/studies/gov-s/count", COUNT).status_code == 200
    assert member.get(f"/api/v1/queries/{run_id}/rows").status_code == 200
