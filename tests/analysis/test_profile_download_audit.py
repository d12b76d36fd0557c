"""Downloading a profile report is audited, from the API and from the page (issue 10, finding 11)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from analysis.services import profile_job_execute
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_profile_report_downloads_are_audited(analyst, stats_run, tenant_a) -> None:
    job = analyst.post(f"/api/v1/queries/{stats_run}/profiles").json()["id"]
    with tenant_context(tenant_a):
        assert profile_job_execute(job, tenant=tenant_a) == "succeeded"
    connection.set_schema_to_public()
    assert analyst.get(f"/api/v1/profiles/{job}/report.json").status_code == 200
    assert analyst.get(f"/api/v1/profiles/{job}/report.html").status_code == 200
    page = Client(HTTP_HOST="lab-a.test")
    page.force_login(analyst.user)
    assert page.get(f"/queries/profiles/{job}/report.html").status_code == 200
    with tenant_context(tenant_a):
        found = list(
            AuditEvent.objects.filter(action="analysis.profile_downloaded", actor_email=analyst.user.email).order_by(
                "id"
            )
        )
    connection.set_schema_to_public()
    assert [event.details["format"] for event in found] == ["json", "html", "html"]
    assert all(event.details["profile"] == job and event.details["run"] == stats_run for event in found)
    assert found[-1].request_id and found[-1].target_type == "queries.queryrun"
