"""Audit gaps of the security review, closed (issue 10, finding 11): denied attempts, tokens on another workspace's
host, reading a run's report, dictionary downloads, e-mail changes and rate-limited sign-ins are recorded — and the
ones an outsider can repeat at will are coalesced, so the audit table cannot be flooded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def _run(client: ApiClient, execute: Callable[[int], str], spec: dict[str, Any] | None = None) -> int:
    run_id = client.post("/api/v1/studies/memory/queries", spec or {"columns": {"cognitive": ["working_memory"]}})
    assert run_id.status_code == 202, run_id.content
    assert execute(run_id.json()["id"]) == "succeeded"
    return int(run_id.json()["id"])


def test_denied_attempts_on_objects_are_audited_and_coalesced(api, tenant_a, study_ro, execute, events) -> None:
    owner_of_run = api(tenant_a, "analyst")
    run_id = _run(owner_of_run, execute)
    prober = api(tenant_a, "analyst")
    assert prober.get(f"/api/v1/queries/{run_id}/rows").status_code == 404  # someone else's run
    denied = events("access.denied", actor_email=prober.user.email)
    assert len(denied) == 1
    assert denied[0].details == {
        "status": 404,
        "code": "not_found",
        "method": "GET",
        "path": f"/api/v1/queries/{run_id}/rows",
        "route": "api/v1/queries/<run_id>/rows",
    }
    for other in range(run_id + 1, run_id + 30):  # probing many ids of one endpoint: one event per window
        prober.get(f"/api/v1/queries/{other}/rows")
    assert len(events("access.denied", actor_email=prober.user.email)) == 1
    refused = prober.get("/api/v1/members")
    assert refused.status_code == 403
    latest = events("access.denied", actor_email=prober.user.email)
    assert len(latest) == 2 and latest[-1].details["code"] == "role_insufficient"


def test_a_signed_in_outsider_is_audited_in_the_workspace_they_tried(tenant_a, tenant_b, make_member, events) -> None:
    outsider = make_member(tenant_b)
    browser = Client(HTTP_HOST="lab-a.test")
    browser.force_login(outsider)
    assert browser.get("/studies/").status_code == 403
    assert browser.get("/api/v1/studies").status_code == 403
    found = events("access.denied", actor_email=outsider.email)
    assert {event.details["path"] for event in found} == {"/studies/", "/api/v1/studies"}


def test_a_token_used_on_another_workspace_host_is_audited_in_both(api, tenant_a, tenant_b) -> None:
    member = api(tenant_a)
    stolen = ApiClient(host="lab-b.test", token=member.token)
    for _ in range(5):
        assert stolen.get("/api/v1/me").status_code == 401
    with tenant_context(tenant_b):
        there = list(AuditEvent.objects.filter(action="auth.token_wrong_host", actor_email=member.user.email))
    with tenant_context(tenant_a):
        home = list(AuditEvent.objects.filter(action="token.used_on_other_host", actor_email=member.user.email))
    connection.set_schema_to_public()
    assert len(there) == 1 and there[0].details["token_prefix"] == member.token.split("_")[1]
    assert there[0].ip == "127.0.0.1"
    assert len(home) == 1 and home[0].details["workspace"] == "lab-b"
    assert member.get("/api/v1/me").status_code == 200  # the token still works where it belongs
    with tenant_context(tenant_b):
        before = AuditEvent.objects.count()
    anonymous = Client(HTTP_HOST="lab-b.test")
    for path in ("/api/v1/me", "/api/v1/studies/x", "/api/v1/nothing-here"):
        assert anonymous.get(path).status_code in {401, 404}
    with tenant_context(tenant_b):
        assert AuditEvent.objects.count() == before  # anonymous refusals leave nothing to flood the table with
    connection.set_schema_to_public()


def test_reading_a_report_and_downloading_a_dictionary_are_audited(api, tenant_a, study_ro, execute, events) -> None:
    analyst = api(tenant_a, "analyst")
    run_id = _run(analyst, execute)
    assert analyst.get(f"/api/v1/queries/{run_id}/report").status_code == 200
    read = events("query.report_read", actor_email=analyst.user.email)
    assert len(read) == 1 and read[0].details["run"] == run_id and read[0].details["aggregate_only"] is False
    assert read[0].target_type == "queries.queryrun" and read[0].request_id
    page = Client(HTTP_HOST=tenant_a.primary_domain_name())
    page.force_login(analyst.user)
    assert page.get(f"/queries/runs/{run_id}/report/").status_code == 200
    csv = analyst.get("/api/v1/studies/memory/datasets/cognitive/dictionary.csv")
    assert csv.status_code == 200
    assert page.get("/studies/memory/datasets/cognitive/dictionary.csv").status_code == 200
    downloads = events("dataset.dictionary_downloaded", actor_email=analyst.user.email)
    assert len(events("query.report_read", actor_email=analyst.user.email)) == 2  # the run page's report too
    assert len(downloads) == 2
    assert downloads[0].details == {"study": "memory", "dataset": "cognitive", "version": 1}
    assert downloads[0].target_repr and downloads[1].request_id
