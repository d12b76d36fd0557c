"""A consortium that deletes its workspace leaves the lab's record of what it shared: the contributions stay on the
lab's side, withdrawn, naming the consortium, with their usage report (who used the lab's data, how, for what).
Before, the purge deleted the contribution rows with the consortium: the lab's list lost them and the usage report
of data that had been counted, read and exported answered 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from portal.deletion import workspace_delete_schedule, workspace_purge
from sharing.models import CeilingRaise, Contribution
from tenants.models import Tenant
from tenants.services import tenant_create

pytestmark = pytest.mark.django_db

COUNT = {"filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 43}]}


def test_a_deleted_consortium_leaves_the_labs_record(gov, steward_api, api, tenant_a, page_client) -> None:
    connection.set_schema_to_public()
    consortium = tenant_create(
        slug="cons-leaving", name="Consortium Leaving", domain="cons-leaving.test", kind="consortium"
    ).tenant
    connection.set_schema_to_public()
    cons_steward = api(consortium, "steward")
    offered = steward_api.post("/api/v1/studies/gov/contributions", {"consortium": "cons-leaving", "level": "count"})
    assert offered.status_code == 201, offered.content
    cid = offered.json()["id"]
    assert cons_steward.post(f"/api/v1/contributions/{cid}/accept", {"slug": "gov-l"}).status_code == 200
    member = api(consortium, "analyst")
    for dataset in ("demographics", "cognitive"):
        granted = cons_steward.post(
            f"/api/v1/studies/gov-l/datasets/{dataset}/grants", {"email": member.user.email, "level": "count"}
        )
        assert granted.status_code == 201, granted.content
    assert member.post("/api/v1/studies/gov-l/count", COUNT).status_code == 200
    asked = member.post(
        f"/api/v1/contributions/{cid}/requests", {"level": "query", "purpose": "x", "accept_terms": True}
    )
    assert asked.status_code == 201, asked.content
    used = steward_api.get(f"/api/v1/contributions/{cid}/usage").json()
    assert [(i["action"], i["user"]) for i in used["items"]] == [("count", member.user.email)]

    connection.set_schema_to_public()
    workspace_delete_schedule(tenant=Tenant.objects.get(pk=consortium.pk), grace_days=0)
    Tenant.objects.filter(pk=consortium.pk).update(delete_after=timezone.now() - timedelta(minutes=1))
    with connection.cursor() as cursor:  # run the uncommitted rows' deferred checks before the schema is dropped
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    workspace_purge(tenant=Tenant.objects.get(pk=consortium.pk))
    connection.set_schema_to_public()

    record = Contribution.objects.get(pk=cid)
    assert (record.status, record.consortium_id, record.consortium_slug, record.consortium_name) == (
        "withdrawn",
        None,
        "cons-leaving",
        "Consortium Leaving",
    )
    assert CeilingRaise.objects.get(pk=asked.json()["id"]).status == "withdrawn"  # nobody is left to approve
    listed = steward_api.get("/api/v1/contributions").json()["items"]
    mine = next(c for c in listed if c["id"] == cid)
    assert (mine["status"], mine["consortium"], mine["consortium_name"]) == (
        "withdrawn",
        "cons-leaving",
        "Consortium Leaving",
    )
    assert steward_api.get(f"/api/v1/contributions/{cid}").status_code == 200
    usage = steward_api.get(f"/api/v1/contributions/{cid}/usage")
    assert usage.status_code == 200 and usage.json()["total"] == 1
    assert steward_api.get(f"/api/v1/contributions/{cid}/requests").status_code == 200
    lab_pages = page_client(tenant_a, "steward")
    for page in ("/sharing/", "/console/sharing/", f"/console/sharing/{cid}/usage/"):
        shown = lab_pages.get(page)
        assert shown.status_code == 200 and b"Consortium Leaving" in shown.content, page
    with tenant_context(tenant_a):
        ended = AuditEvent.objects.filter(action="contribution.withdrawn", target_id=str(cid)).get()
    connection.set_schema_to_public()
    assert ended.details["reason"] == "consortium_deleted"
    # The lab may offer the study again elsewhere; the old record does not stand in the way.
    again = steward_api.patch(f"/api/v1/contributions/{cid}", {"level": "query"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "contribution_closed"
