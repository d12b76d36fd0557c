"""Quotas set by operators refuse new work cleanly (quota_exceeded, nothing registered); usage is metered as it
happens and owners read it (GET /api/v1/usage)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from datasets.models import Dataset, IngestJob
from portal.models import UsageDay
from portal.operator import workspace_quota_set
from queries.models import QueryRun
from tenants.models import Invitation, Membership
from tests.conftest import unique_email
from tests.csv_data import MEMORY_COGNITIVE
from tests.plugins.datasets import csv_upload


@pytest.fixture(autouse=True)
def _own_storage_root(isolated_media: None) -> None:
    """Storage numbers of this test only."""


def _usage(tenant):
    return UsageDay.objects.filter(tenant=tenant).order_by("-day").first()


def test_a_storage_quota_stops_an_upload_cleanly(steward_api, study, tenant_a) -> None:
    assert steward_api.get("/api/v1/studies/memory/datasets").json()["total"] == 3
    workspace_quota_set(tenant=tenant_a, changes={"storage_bytes": 1000})
    with tenant_context(tenant_a):
        jobs_before = IngestJob.objects.count()
    response = steward_api.post(
        "/api/v1/studies/memory/datasets",
        {"file": csv_upload(MEMORY_COGNITIVE, "more.csv"), "name": "more", "kind": "measure"},
        multipart=True,
    )
    assert response.status_code == 413, response.content
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded" and error["details"]["quota"] == "storage_bytes"
    assert "storage quota" in error["message"] and error["details"]["limit"] == 1000
    with tenant_context(tenant_a):
        assert IngestJob.objects.count() == jobs_before
        assert not Dataset.objects.filter(name="more").exists()


def test_a_member_quota_refuses_invitations_and_new_members(api, tenant_a, make_member) -> None:
    owner = api(tenant_a, "owner")
    members = Membership.objects.filter(tenant=tenant_a).count()
    workspace_quota_set(tenant=tenant_a, changes={"members": members})
    address = unique_email("invitee")
    response = owner.post("/api/v1/members", {"email": address, "role": "analyst"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "quota_exceeded"
    assert response.json()["error"]["details"] == {
        "quota": "members",
        "limit": members,
        "used": members,
        "requested": 1,
    }
    assert not Invitation.objects.filter(tenant=tenant_a, email=address).exists()
    with pytest.raises(Exception, match="member quota"):
        make_member(tenant_a, "analyst")
    assert Membership.objects.filter(tenant=tenant_a).count() == members


def test_a_runs_per_day_quota_refuses_the_next_run(steward_api, study_ro, tenant_a) -> None:
    assert steward_api.post("/api/v1/studies/memory/queries", {}).status_code == 202
    workspace_quota_set(tenant=tenant_a, changes={"runs_per_day": 1})
    spec = {"columns": {"cognitive": ["working_memory"]}}
    with tenant_context(tenant_a):
        runs = QueryRun.objects.count()
    refused = steward_api.post("/api/v1/studies/memory/queries", spec)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "quota_exceeded"
    assert refused.json()["error"]["details"]["quota"] == "runs_per_day"
    with tenant_context(tenant_a):
        assert QueryRun.objects.count() == runs


def test_usage_is_metered_and_owners_read_it_with_warnings(api, steward_api, study_ro, tenant_a, execute) -> None:
    before = _usage(tenant_a)
    counts_before = before.counts if before else 0
    assert steward_api.post("/api/v1/studies/memory/count", {}).status_code == 200
    run_id = steward_api.post("/api/v1/studies/memory/queries", {}).json()["id"]
    assert execute(run_id) == "succeeded"
    exported = steward_api.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=quarterly+report")
    assert exported.status_code == 200
    b"".join(exported.streaming_content)
    today = _usage(tenant_a)
    assert today.counts == counts_before + 1 and today.runs >= 1 and today.exports >= 1
    assert today.compute_seconds > 0 and today.storage_bytes > 0 and today.datasets == 3

    owner = api(tenant_a, "owner")
    usage = owner.get("/api/v1/usage").json()
    assert set(usage) >= {
        "storage_bytes",
        "datasets",
        "members",
        "counts_30d",
        "runs_30d",
        "exports_30d",
        "compute_seconds_30d",
        "quota",
    }
    assert usage["datasets"] == 3 and usage["storage_bytes"] == today.storage_bytes
    assert usage["members"] == Membership.objects.filter(tenant=tenant_a).count()
    assert usage["counts_30d"] >= 1 and usage["runs_30d"] >= 1 and usage["exports_30d"] >= 1
    assert usage["warnings"] == []
    workspace_quota_set(tenant=tenant_a, changes={"storage_bytes": int(usage["storage_bytes"] / 0.85)})
    warned = owner.get("/api/v1/usage").json()
    assert warned["quota"]["storage_bytes"] == int(usage["storage_bytes"] / 0.85)
    assert [q["level"] for q in warned["quotas"] if q["quota"] == "storage_bytes"] == ["warning"]
    assert "storage quota is 85 % used" in warned["warnings"][0]
    assert steward_api.get("/api/v1/usage").status_code == 403  # owners only
    page = owner.client.get("/usage/")
    assert page.status_code == 302  # a token is no browser session: sign in


def test_tenant_quota_command(db, tenant_a) -> None:
    out = StringIO()
    call_command("tenant_quota", "lab-a", "--members", "50", "--runs-per-day", "none", stdout=out)
    tenant_a.refresh_from_db()
    assert tenant_a.quota_members == 50 and tenant_a.quota_runs_per_day is None
    assert "members:" in out.getvalue() and "of 50" in out.getvalue()
    for bad in (["nope", "--members", "1"], ["lab-a", "--members", "-3"], ["lab-a", "--storage-bytes", "lots"]):
        with pytest.raises(CommandError):
            call_command("tenant_quota", *bad, stdout=StringIO())


def test_a_refused_invitation_leaves_usage_alone(api, tenant_a) -> None:
    """An invitation refused past the member quota leaves the usage as it was."""
    owner = api(tenant_a, "owner")
    before = list(UsageDay.objects.filter(tenant=tenant_a).values())
    workspace_quota_set(tenant=tenant_a, changes={"members": 0})
    refused = owner.post("/api/v1/members", {"email": unique_email("nobody"), "role": "analyst"})
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert list(UsageDay.objects.filter(tenant=tenant_a).values()) == before
