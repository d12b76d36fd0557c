"""The portal's pages: the platform's start page, creating a workspace and landing in it, the owners' Usage page and
sharing profile, the Console's study defaults, the wizard's "who can see this study?", the operator console."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from access.models import Grant
from core.config import config_get
from datasets.ingest_runner import ingest_job_execute
from datasets.models import IngestJob, Study
from portal.deletion import workspace_delete_schedule, workspaces_purge_due
from portal.workspaces import workspace_create
from tenants.models import Membership, Tenant
from tenants.roles import Role
from tests.conftest import unique_email
from tests.plugins.datasets import csv_upload
from tests.portal.conftest import PLATFORM


@pytest.fixture(autouse=True)
def _own_storage_root(isolated_media: None) -> None:
    """Files of this test only."""


def test_visitors_are_offered_sign_in_and_sign_up_when_open(db, platform_setting) -> None:
    page = Client(HTTP_HOST=PLATFORM).get("/").content.decode()
    assert "/accounts/login/" in page and "/accounts/signup/" not in page
    platform_setting("self_signup_allowed", "1")
    assert "/accounts/signup/" in Client(HTTP_HOST=PLATFORM).get("/").content.decode()


def test_create_a_workspace_in_the_browser_and_land_in_it_signed_in(platform_client) -> None:
    client = platform_client()
    assert "Create a workspace" in client.get("/").content.decode()
    form = client.get("/workspaces/new/").content.decode()
    assert "Sharing profile" in form and "Consortium" in form
    bad = client.post("/workspaces/new/", {"slug": "X", "name": "Bad", "kind": "lab"})
    assert bad.status_code == 422 and 'data-error-code="invalid_slug"' in bad.content.decode()
    created = client.post("/workspaces/new/", {"slug": "page-lab", "name": "Page Lab", "kind": "lab"})
    assert created.status_code == 302
    match = re.match(r"^http://page-lab\.test/accounts/handoff/([^/]+)/$", created["Location"])
    assert match, created["Location"]
    there = Client(HTTP_HOST="page-lab.test")
    landed = there.get(f"/accounts/handoff/{match.group(1)}/")
    assert landed.status_code == 302 and landed["Location"] == "/"
    assert there.get("/").status_code == 200  # signed in, as the owner
    again = Client(HTTP_HOST="page-lab.test").get(f"/accounts/handoff/{match.group(1)}/")
    assert again["Location"].startswith("/accounts/login/")  # single use
    # A ticket for one host signs nobody in on another
    opened = client.get("/workspaces/page-lab/open/")
    ticket = opened["Location"].rsplit("/", 2)[-2]
    assert Client(HTTP_HOST="lab-a.test").get(f"/accounts/handoff/{ticket}/")["Location"].startswith("/accounts/")
    home = client.get("/").content.decode()
    assert 'data-workspace="page-lab"' in home and "Owner" in home
    assert client.get("/workspaces/lab-a/open/").status_code == 404  # not a member


def test_pending_invitations_are_listed_and_accepted_from_my_workspaces(
    platform_client, person, api, tenant_a, django_capture_on_commit_callbacks
) -> None:
    invitee = person()
    Membership.objects.filter(user=invitee).delete()
    owner = api(tenant_a, Role.OWNER)
    # An address without an account gets an invitation; this account holds it verified, so it is invited by mail
    # only when the address is not a member: create the invitation for a fresh address and give it to the person.
    address = unique_email("invited")
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.post("/api/v1/members", {"email": address, "role": "analyst"}).json()["status"] == "invited"
    invited = person(address)  # the person confirms that address (an account that verified it)
    assert mail.outbox
    client = platform_client(invited)
    page = client.get("/").content.decode()
    assert "Pending invitations" in page and "Lab A" in page
    invitation_id = re.search(r"/invitations/(\d+)/accept/", page).group(1)
    other = platform_client(invitee)
    assert other.post(f"/invitations/{invitation_id}/accept/").status_code == 302
    assert not Membership.objects.filter(user=invitee, tenant=tenant_a).exists()  # not theirs
    assert client.post(f"/invitations/{invitation_id}/accept/").status_code == 302
    assert Membership.objects.get(user=invited, tenant=tenant_a).role == Role.ANALYST
    assert "Pending invitations" not in client.get("/").content.decode()


def test_usage_page_and_sharing_profile_for_owners(page_client, tenant_a) -> None:
    owner = page_client(tenant_a, Role.OWNER)
    page = owner.get("/usage/").content.decode()
    assert 'data-chart="storage_bytes"' in page and "<svg" in page and 'data-quota="members"' in page
    assert "Sharing profile: Lab" in page
    assert '<a role="menuitem" href="http://platform.test/">All my workspaces</a>' in page  # back to the platform
    assert page_client(tenant_a, Role.STEWARD).get("/usage/").status_code == 403
    assert owner.post("/usage/profile/", {"kind": "consortium"}).status_code == 302
    tenant_a.refresh_from_db()
    try:
        assert tenant_a.kind == "consortium" and config_get("analyst_default_level", tenant_a) == "metadata"
        assert "Sharing profile: Consortium" in owner.get("/usage/").content.decode()
        assert page_client(tenant_a, Role.STEWARD).post("/usage/profile/", {"kind": "lab"}).status_code == 403
        assert owner.post("/usage/profile/", {"kind": "enterprise"}).status_code == 422
    finally:
        owner.post("/usage/profile/", {"kind": "lab"})
    tenant_a.refresh_from_db()
    assert tenant_a.kind == "lab" and config_get("analyst_default_level", tenant_a) == "export"


def test_the_wizard_asks_who_can_see_the_study_and_the_console_changes_it(page_client, tenant_a) -> None:
    steward = page_client(tenant_a, Role.STEWARD)
    form = {"name": "Closed", "slug": "closed", "engine": "duckdb", "analyst_level": "count"}
    assert "Who can see this study?" in steward.get("/studies/new/").content.decode()
    assert steward.post("/studies/new/", form)["Location"] == "/studies/new/setup/"
    steward.post("/studies/new/setup/demographics/", {"file": csv_upload("id,age\nA,1\nB,2\n", "demo.csv")})
    assert steward.post("/studies/new/setup/keys/", {"id_column": "id", "dataset_name": "demo"}).status_code == 302
    with tenant_context(tenant_a):
        ingest_job_execute(IngestJob.objects.get(new_study__slug="closed").pk)
        study = Study.objects.get(slug="closed")
        grant = Grant.objects.get(study=study, role=Role.ANALYST)
        assert (grant.level, grant.source, grant.dataset_id) == ("count", "study_default", None)
    connection.set_schema_to_public()
    console = steward.get("/console/study-defaults/").content.decode()
    assert 'data-study="closed"' in console and 'data-effective="count"' in console
    assert steward.post("/console/study-defaults/", {"study": "closed", "level": "metadata"}).status_code == 302
    assert steward.post("/console/study-defaults/", {"study": "closed", "level": "owner"}).status_code == 422
    assert steward.post("/console/study-defaults/", {"study": "nope", "level": "count"}).status_code == 404
    with tenant_context(tenant_a):
        live = Grant.objects.filter(study=study, role=Role.ANALYST, revoked_at__isnull=True)
        assert [g.level for g in live] == ["metadata"]
    connection.set_schema_to_public()
    steward.post("/console/study-defaults/", {"study": "closed", "level": ""})
    assert 'data-effective="export"' in steward.get("/console/study-defaults/").content.decode()
    assert page_client(tenant_a, Role.ANALYST).get("/console/study-defaults/").status_code == 403


def test_operator_console_for_staff_only(platform_client, person, steward_api, study, tenant_a) -> None:
    assert platform_client().get("/operator/").status_code == 403
    staff = person()
    staff.is_staff = True
    staff.save()
    operator = platform_client(staff)
    page = operator.get("/operator/").content.decode()
    assert 'data-workspace="lab-a"' in page and 'data-check="database"' in page and "ok" in page
    assert operator.post("/operator/workspaces/lab-a/quota/", {"members": "500", "runs_per_day": ""}).status_code == 302
    tenant_a.refresh_from_db()
    assert tenant_a.quota_members == 500 and tenant_a.quota_runs_per_day is None
    operator.post("/operator/workspaces/lab-a/quota/", {"members": "many"})
    tenant_a.refresh_from_db()
    assert tenant_a.quota_members == 500
    operator.post("/operator/workspaces/lab-a/suspend/", {"reason": "checking"})
    assert steward_api.get("/api/v1/studies").json()["error"]["code"] == "workspace_suspended"
    operator.post("/operator/workspaces/lab-a/resume/")
    assert steward_api.get("/api/v1/studies").status_code == 200
    operator.post("/operator/workspaces/lab-a/delete/", {"confirm": "wrong"})
    tenant_a.refresh_from_db()
    assert tenant_a.delete_after is None and tenant_a.suspended_at is None
    download = operator.get("/operator/workspaces/lab-a/export/")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))) as archive:
        assert "manifest.json" in archive.namelist()
    assert platform_client().get("/operator/workspaces/lab-a/export/").status_code == 403


def test_deletion_waits_for_the_grace_period_and_resume_cancels_it(person) -> None:
    owner = person()
    tenant = workspace_create(user=owner, slug="short-lived", name="Short lived")
    scheduled = workspace_delete_schedule(tenant=tenant, grace_days=3)
    assert scheduled.suspended_at is not None and scheduled.delete_after > timezone.now() + timedelta(days=2)
    assert workspaces_purge_due() == []
    Tenant.objects.filter(pk=tenant.pk).update(delete_after=timezone.now() - timedelta(minutes=1))
    assert workspaces_purge_due() == ["short-lived"]
    assert not Tenant.objects.filter(slug="short-lived").exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [tenant.schema_name])
        assert cursor.fetchone() is None
