"""Offer -> accept -> query -> export -> lower the ceiling -> withdraw, on the real stack: two labs, one consortium
and a member of two of them; the consortium's answers equal the lab's, and the lab's usage report matches."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from audit.verification import audit_chain_verify
from datasets.models import DatasetVersion
from tests.conftest import ApiClient
from tests.csv_data import gov_cognitive_csv
from tests.plugins.sharing import CONSORTIUM, error_code, offer_and_accept

pytestmark = pytest.mark.django_db

ALL = {"filters": []}
BIG = {"filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 43}]}
RUN = {**BIG, "columns": {"cognitive": ["score"]}}


def test_offer_accept_query_export_lower_withdraw(
    gov, steward_api, lab_b_memory, consortium, cons_steward, api, make_member, run_in, tenant_a
) -> None:
    # A member of lab A and of the consortium (one login, two workspaces).
    person = make_member(tenant_a, "analyst")
    member = api(consortium, "analyst", user=make_member(consortium, "analyst", email=person.email))
    lab_member = api(tenant_a, "analyst", user=person)

    offered = steward_api.post(
        "/api/v1/studies/gov/contributions",
        {"consortium": CONSORTIUM[0], "level": "export", "datasets": ["cognitive"], "terms": "Cite lab A."},
    )
    assert offered.status_code == 201, offered.content
    body = offered.json()
    assert (body["status"], body["study"], body["consortium"], body["level"], body["follow"]) == (
        "offered",
        "gov",
        "cons-c",
        "export",
        "latest",
    )
    assert body["datasets"] == ["demographics", "cognitive"]  # demographics always included
    cid = body["id"]
    pending = cons_steward.get("/api/v1/contributions").json()["items"]
    assert [(c["id"], c["status"], c["side"]) for c in pending] == [(cid, "offered", "consortium")]
    assert member.post(f"/api/v1/contributions/{cid}/accept", {"slug": "gov-a"}).status_code == 403
    accepted = cons_steward.post(f"/api/v1/contributions/{cid}/accept", {"slug": "gov-a"})
    assert accepted.status_code == 200 and accepted.json()["status"] == "active" and accepted.json()["study"] == "gov-a"
    offer_and_accept(lab_b_memory, cons_steward, "memory", "memory-b", level="count")

    listed = {s["slug"]: s["contributed_by"] for s in member.get("/api/v1/studies").json()["items"]}
    assert listed == {"gov-a": {"tenant": "lab-a", "name": "Lab A"}, "memory-b": {"tenant": "lab-b", "name": "Lab B"}}
    # No data copied: the consortium's versions are the lab's files.
    with tenant_context(consortium):
        shared = {(v.sha256, v.parquet_file) for v in DatasetVersion.objects.filter(dataset__study__slug="gov-a")}
    with tenant_context(tenant_a):
        own = {(v.sha256, v.parquet_file) for v in DatasetVersion.objects.filter(dataset__study__slug="gov")}
    connection.set_schema_to_public()
    assert shared == own

    # Counts equal the lab's (the consortium starts analysts at metadata: a grant first).
    assert error_code(member.post("/api/v1/studies/gov-a/count", BIG)) == "access_level_insufficient"
    for dataset in ("demographics", "cognitive"):
        granted = cons_steward.post(
            f"/api/v1/studies/gov-a/datasets/{dataset}/grants", {"email": member.user.email, "level": "export"}
        )
        assert granted.status_code == 201, granted.content
    for spec in (ALL, BIG):
        here = member.post("/api/v1/studies/gov-a/count", spec).json()
        there = steward_api.post("/api/v1/studies/gov/count", spec).json()
        assert (here["participants"], here["rows"]) == (there["participants"], there["rows"])
        assert here["participants"] > 0
    assert lab_member.get("/api/v1/studies").status_code == 200  # their lab membership is untouched

    run = member.post("/api/v1/studies/gov-a/queries", RUN)
    assert run.status_code == 202, run.content
    run_id = run.json()["id"]
    assert run_in(consortium, run_id) == "succeeded"
    rows = member.get(f"/api/v1/queries/{run_id}/rows?page_size=5")
    assert rows.status_code == 200 and rows.json()["total"] == 43
    export = member.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=pooled+analysis")
    assert export.status_code == 200, export.content

    usage = steward_api.get(f"/api/v1/contributions/{cid}/usage").json()
    actions = sorted((i["action"], i["user"], i["purpose"]) for i in usage["items"])
    assert ("export", member.user.email, "pooled analysis") in actions
    assert {a for a, _, _ in actions} >= {"count", "run", "rows", "export"}
    assert all(i["consortium"] == "cons-c" for i in usage["items"])
    with tenant_context(consortium):
        consortium_uses = AuditEvent.objects.filter(
            actor_email=member.user.email,
            action__in=["query.count", "query.run_created", "query.preview", "query.exported"],
        ).count()
    connection.set_schema_to_public()
    assert usage["total"] == consortium_uses  # one lab record for each of the consortium's
    assert lab_b_memory.get(f"/api/v1/contributions/{cid}/usage").status_code == 404  # lab B learns nothing

    # Lower the ceiling: rows stop at once, counts become protected.
    lowered = steward_api.patch(f"/api/v1/contributions/{cid}", {"level": "count"})
    assert lowered.status_code == 200 and lowered.json()["level"] == "count"
    assert error_code(member.get(f"/api/v1/queries/{run_id}/rows")) == "access_level_insufficient"
    assert error_code(member.post("/api/v1/studies/gov-a/queries", RUN)) == "access_level_insufficient"
    protected = member.post("/api/v1/studies/gov-a/count", BIG).json()
    assert protected["perturbed"] is True
    assert error_code(cons_steward.get(f"/api/v1/queries/{run_id}/rows")) in ("access_level_insufficient", "not_found")

    # Withdraw: every use refused, earlier results too; the catalog no longer lists it.
    withdrawn = steward_api.delete(f"/api/v1/contributions/{cid}")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert error_code(member.post("/api/v1/studies/gov-a/count", BIG)) == "contribution_withdrawn"
    assert error_code(member.get(f"/api/v1/queries/{run_id}/rows")) == "contribution_withdrawn"
    again = member.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=again")
    assert error_code(again) == "contribution_withdrawn"
    assert error_code(member.get("/api/v1/studies/gov-a")) == "contribution_withdrawn"
    lineage = member.get(f"/api/v1/queries/{run_id}/lineage")  # the record stays; its numbers do not
    assert lineage.status_code == 200 and len(lineage.json()["exports"]) == 1
    assert lineage.json()["run"]["row_count"] is None
    assert [s["slug"] for s in member.get("/api/v1/studies").json()["items"]] == ["memory-b"]
    statuses = {c["id"]: c["status"] for c in cons_steward.get("/api/v1/contributions").json()["items"]}
    assert statuses[cid] == "withdrawn"
    with tenant_context(tenant_a):
        assert audit_chain_verify().ok
    with tenant_context(consortium):
        assert audit_chain_verify().ok
    connection.set_schema_to_public()


def test_the_consortium_cannot_change_a_contributed_study(gov, steward_api, cons_steward, consortium) -> None:
    offer_and_accept(steward_api, cons_steward, "gov", "gov-ro")
    changed = cons_steward.patch("/api/v1/studies/gov-ro", {"id_column": "other"})
    assert error_code(changed) == "contributed_study_read_only"
    deleted = cons_steward.delete("/api/v1/studies/gov-ro/datasets/cognitive")
    assert error_code(deleted) == "contributed_study_read_only"
    versions = cons_steward.delete("/api/v1/studies/gov-ro/datasets/cognitive/versions/1")
    assert error_code(versions) == "contributed_study_read_only"


def steward_api_tenant(client: ApiClient) -> Any:
    from tenants.models import Tenant

    return Tenant.objects.get(domains__domain=client.host)


def _numbers(client: ApiClient, study: str) -> list[int]:
    response = client.get(f"/api/v1/studies/{study}/datasets/cognitive/versions")
    assert response.status_code == 200, response.content
    return [v["number"] for v in response.json()["items"]]


def test_a_followed_contribution_sees_new_versions_a_pinned_one_does_not(
    gov, steward_api, upload, cons_steward, consortium
) -> None:
    follows = offer_and_accept(steward_api, cons_steward, "gov", "gov-latest")
    again = steward_api.post("/api/v1/studies/gov/contributions", {"consortium": CONSORTIUM[0], "level": "query"})
    assert again.status_code == 409 and error_code(again) == "contribution_exists"
    _, ingest = upload("gov", gov_cognitive_csv() + "P061,BAS1,61\n", "cognitive")
    assert ingest is not None and ingest["status"] == "succeeded", ingest
    assert _numbers(cons_steward, "gov-latest") == [2, 1]

    assert steward_api.delete(f"/api/v1/contributions/{follows}").status_code == 200
    offer_and_accept(steward_api, cons_steward, "gov", "gov-pinned", follow="pinned")
    _, ingest = upload("gov", gov_cognitive_csv() + "P062,BAS1,62\n", "cognitive")
    assert ingest is not None and ingest["status"] == "succeeded", ingest
    assert _numbers(cons_steward, "gov-pinned") == [2]
    assert _numbers(steward_api, "gov") == [3, 2, 1]
    # A version the lab deletes leaves the consortium too (the lab's tombstone rules); its files stay for reruns.
    assert steward_api.delete("/api/v1/studies/gov/datasets/cognitive/versions/2").status_code in (200, 204)
    assert _numbers(cons_steward, "gov-pinned") == []
    with tenant_context(steward_api_tenant(steward_api)):
        kept = DatasetVersion.all_objects.get(dataset__study__slug="gov", dataset__name="cognitive", number=2)
    connection.set_schema_to_public()
    assert kept.files_removed_at is None  # the consortium reads these files: they outlive the lab's deletion
