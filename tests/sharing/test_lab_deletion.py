"""A lab that deletes its workspace takes its contributions with it: from the moment the deletion is scheduled the
consortium's copy of the study answers as withdrawn (data, metadata, grants, new requests), resuming brings it back,
and after the purge the contribution stays on record, withdrawn, naming the lab that made it. Without that record
the consortium's catalog rows of the study would look like a study of its own: no ceiling, writable, its column
profiles readable by anyone with metadata access."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from portal.deletion import workspace_delete_schedule, workspace_purge
from sharing.models import Contribution
from tenants.models import Tenant
from tenants.services import tenant_create
from tenants.suspension import tenant_resume
from tests.conftest import ApiClient
from tests.plugins.sharing import error_code, grant_datasets, memory_study_register, offer_and_accept

pytestmark = pytest.mark.django_db

SPEC = {"filters": [{"dataset": "flanker", "column": "accuracy", "op": "gte", "value": 0.5}]}


@pytest.fixture
def leaving_lab(api: Callable[..., ApiClient]) -> tuple[Tenant, ApiClient]:
    """A lab of its own (the test deletes it) with study "trial": demographics and flanker."""
    lab = tenant_create(slug="lab-leaving", name="Lab Leaving", domain="lab-leaving.test").tenant
    connection.set_schema_to_public()
    steward = api(lab, "steward")
    memory_study_register(steward, lab, "trial")
    return lab, steward


def _uses(member: ApiClient, steward: ApiClient) -> dict[str, Any]:
    """What the consortium's member and steward get from the contributed study."""
    return {
        "listed": "trial-c" in {s["slug"] for s in member.get("/api/v1/studies").json()["items"]},
        "count": member.post("/api/v1/studies/trial-c/count", SPEC).status_code,
        "datasets": member.get("/api/v1/studies/trial-c/datasets").status_code,
        "dictionary": member.get("/api/v1/studies/trial-c/datasets/flanker/versions/1").status_code,
        "grant": steward.post(
            "/api/v1/studies/trial-c/datasets/flanker/grants", {"email": member.user.email, "level": "export"}
        ).status_code,
        "patch": steward.patch("/api/v1/studies/trial-c", {"description": "ours now"}).status_code,
    }


def test_a_deleted_lab_takes_its_contribution_with_it(
    leaving_lab: tuple[Tenant, ApiClient],
    consortium: Tenant,
    cons_steward: ApiClient,
    api: Callable[..., ApiClient],
) -> None:
    lab, lab_steward = leaving_lab
    cid = offer_and_accept(lab_steward, cons_steward, "trial", "trial-c", level="count")
    member = api(consortium, "analyst")
    grant_datasets(cons_steward, member, "trial-c", "count", ("demographics", "flanker"))
    before = _uses(member, cons_steward)
    assert before["listed"] and before["count"] == 200 and before["datasets"] == 200
    assert before["patch"] == 403  # never writable by the consortium

    # Scheduled for deletion: the lab is suspended and can no longer withdraw; its contribution stops answering.
    connection.set_schema_to_public()
    workspace_delete_schedule(tenant=lab, grace_days=30)
    connection.set_schema_to_public()
    scheduled = _uses(member, cons_steward)
    assert not scheduled["listed"]
    assert {k: v for k, v in scheduled.items() if k != "listed"} == dict.fromkeys(
        ("count", "datasets", "dictionary", "grant", "patch"), 403
    )
    assert error_code(member.post("/api/v1/studies/trial-c/count", SPEC)) == "contribution_withdrawn"

    # Resuming cancels the deletion: the contribution answers again, as before.
    connection.set_schema_to_public()
    tenant_resume(tenant=Tenant.objects.get(pk=lab.pk))
    connection.set_schema_to_public()
    assert _uses(member, cons_steward)["count"] == 200

    # Scheduled again and purged: the record stays, withdrawn, naming the lab; every use answers as withdrawn.
    connection.set_schema_to_public()
    workspace_delete_schedule(tenant=Tenant.objects.get(pk=lab.pk), grace_days=0)
    Tenant.objects.filter(pk=lab.pk).update(delete_after=timezone.now() - timedelta(minutes=1))
    with connection.cursor() as cursor:  # this test's rows are not committed: run their deferred checks before the
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # schema is dropped (as a committed workspace would be)
    workspace_purge(tenant=Tenant.objects.get(pk=lab.pk))
    connection.set_schema_to_public()
    assert not Tenant.objects.filter(pk=lab.pk).exists()
    record = Contribution.objects.get(pk=cid)
    assert (record.status, record.lab_id, record.lab_slug, record.lab_name) == (
        "withdrawn",
        None,
        "lab-leaving",
        "Lab Leaving",
    )
    assert record.withdrawn_at is not None
    after = _uses(member, cons_steward)
    assert not after["listed"]
    assert {k: v for k, v in after.items() if k != "listed"} == dict.fromkeys(
        ("count", "datasets", "dictionary", "grant", "patch"), 403
    )
    listed = cons_steward.get("/api/v1/contributions").json()["items"]
    assert [(c["id"], c["status"], c["lab"]) for c in listed if c["id"] == cid] == [
        (cid, "withdrawn", {"tenant": "lab-leaving", "name": "Lab Leaving"})
    ]
    assert cons_steward.get(f"/api/v1/contributions/{cid}").status_code == 200
    with tenant_context(consortium):
        withdrawn = AuditEvent.objects.filter(action="contribution.withdrawn", target_id=str(cid)).get()
    connection.set_schema_to_public()
    assert withdrawn.details["reason"] == "lab_deleted"
