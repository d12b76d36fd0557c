"""Public discovery: opted-in studies only, metadata only, no small counts; a request-access path for visitors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from harmonization.discovery import shown_participants
from tests.conftest import PASSWORD, ApiClient

PLATFORM = "platform.test"


@pytest.fixture
def listed(variables: ApiClient, make_study: Callable[..., Any], upload: Callable[..., Any]) -> ApiClient:
    """alpha (40 participants) and tiny (6) are discoverable; beta is not."""
    make_study("tiny", session_column=None, description="A tiny pilot")
    text = "participant_id,score\n" + "".join(f"T{i},{i}\n" for i in range(6))
    assert upload("tiny", text, "demographics", kind="demographics")[1]["status"] == "succeeded"
    for slug in ("alpha", "tiny"):
        response = variables.patch(f"/api/v1/studies/{slug}", {"discoverable": True})
        assert response.status_code == 200 and response.json()["discoverable"] is True
    return variables


def _catalog(query: str = "") -> dict[str, Any]:
    response = Client().get("/api/v1/catalog", {"q": query} if query else {}, HTTP_HOST=PLATFORM)
    assert response.status_code == 200, response.content
    return response.json()


def test_only_opted_in_studies_with_rounded_counts(listed: ApiClient) -> None:
    body = _catalog()
    mine = {item["study"]: item for item in body["items"] if item["workspace"] == "lab-a"}
    assert set(mine) == {"alpha", "tiny"}  # beta did not opt in: absent
    alpha = mine["alpha"]
    assert alpha["participants"] == 40 and mine["tiny"]["participants"] is None  # 6 < k = 10: hidden
    assert {d["name"] for d in alpha["datasets"]} == {"demographics", "cognitive"}
    demographics = next(d for d in alpha["datasets"] if d["name"] == "demographics")
    assert demographics["columns"] == [
        {"name": "participant_id", "type": "string"},
        {"name": "age_years", "type": "integer"},
        {"name": "sex", "type": "string"},
    ]
    assert {v["name"] for v in alpha["variables"]} == {"age", "sex", "iq"}
    text = json.dumps(body)
    for leak in ("A001", "top_values", "histogram", '"min"', '"F"'):
        assert leak not in text  # no values, no statistics
    assert body["total"] == len(body["items"]) and body["page"] == 1


def test_search_and_paging(listed: ApiClient) -> None:
    assert [i["study"] for i in _catalog("iq")["items"]] == ["alpha"]
    assert [i["study"] for i in _catalog("TINY pilot")["items"]] == ["tiny"]
    assert _catalog("age_months")["items"] == []  # beta's column: beta is not discoverable
    bad = Client().get("/api/v1/catalog", {"page_size": 0}, HTTP_HOST=PLATFORM)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
    one = Client().get("/api/v1/catalog", {"page_size": 1, "q": "lab-a"}, HTTP_HOST=PLATFORM).json()
    assert len(one["items"]) == 1 and one["total"] == 2


def test_opting_out_removes_a_study(listed: ApiClient, api: Callable[..., ApiClient], tenant_a: Any) -> None:
    analyst = api(tenant_a, "analyst")
    assert analyst.patch("/api/v1/studies/beta", {"discoverable": True}).status_code == 403
    assert listed.patch("/api/v1/studies/alpha", {"discoverable": False}).status_code == 200
    assert {i["study"] for i in _catalog()["items"] if i["workspace"] == "lab-a"} == {"tiny"}


def test_rounding() -> None:
    assert [shown_participants(n, 10) for n in (None, 0, 9, 10, 14, 15, 44, 45, 1234)] == [
        None,
        None,
        None,
        10,
        10,
        20,
        40,
        50,
        1230,
    ]
    assert shown_participants(24, 25) is None


def test_catalog_page_and_request_access_path(
    listed: ApiClient, make_member: Callable[..., Any], tenant_a: Any, tenant_b: Any
) -> None:
    visitor = Client(HTTP_HOST=PLATFORM)
    page = visitor.get("/catalog/", {"q": "alpha"})
    assert page.status_code == 200
    assert b'data-catalog-study="lab-a/alpha"' in page.content and b"lab-a/beta" not in page.content
    path = "/catalog/lab-a/alpha/request/"
    anonymous = visitor.get(path)
    assert anonymous.status_code == 200 and b"/accounts/signup/?next=" in anonymous.content
    assert visitor.get("/catalog/lab-a/beta/request/").status_code == 404  # not discoverable = absent
    outsider = make_member(tenant_b, "analyst")  # signed up, not a member of lab A
    assert visitor.login(email=outsider.email, password=PASSWORD)
    assert visitor.post(path, {"purpose": ""}).status_code == 422
    sent = visitor.post(path, {"purpose": "Pooling IQ across cohorts"})
    assert sent.status_code == 200 and b"data-request-sent" in sent.content
    requests = listed.get("/api/v1/discovery/requests").json()["items"]
    assert [(r["study"], r["email"], r["purpose"]) for r in requests] == [
        ("alpha", outsider.email, "Pooling IQ across cohorts")
    ]
    member = make_member(tenant_a, "analyst")
    member_client = Client(HTTP_HOST=PLATFORM)
    assert member_client.login(email=member.email, password=PASSWORD)
    assert b"lab-a.test/access/request/alpha/" in member_client.get(path).content
    audit = listed.get("/api/v1/audit?action=discovery.access_requested").json()["items"]
    assert audit and audit[0]["details"]["email"] == outsider.email


def test_a_suspended_or_leaving_workspace_leaves_the_catalog(listed: ApiClient, tenant_a: Any) -> None:
    """A workspace the operators suspend, or that is scheduled for deletion, answers 403 to its own members: the
    public catalog no longer lists, finds or takes requests for its studies; resuming brings them back. Before, its
    names, columns and participant counts stayed public and visitors' requests landed in a frozen workspace."""
    from django.db import connection

    from portal.deletion import workspace_delete_schedule
    from tenants.models import Tenant
    from tenants.suspension import tenant_resume, tenant_suspend

    def shown() -> set[str]:
        connection.set_schema_to_public()
        return {i["study"] for i in _catalog()["items"] if i["workspace"] == "lab-a"}

    visitor = Client(HTTP_HOST=PLATFORM)
    assert shown() == {"alpha", "tiny"}
    tenant_suspend(tenant=Tenant.objects.get(pk=tenant_a.pk), reason="incident")
    assert shown() == set() and _catalog("alpha")["items"] == []
    assert visitor.get("/catalog/lab-a/alpha/request/").status_code == 404
    assert b"lab-a/alpha" not in visitor.get("/catalog/").content
    tenant_resume(tenant=Tenant.objects.get(pk=tenant_a.pk))
    assert shown() == {"alpha", "tiny"}
    workspace_delete_schedule(tenant=Tenant.objects.get(pk=tenant_a.pk), grace_days=30)
    assert shown() == set()
    tenant_resume(tenant=Tenant.objects.get(pk=tenant_a.pk))
    assert shown() == {"alpha", "tiny"}
