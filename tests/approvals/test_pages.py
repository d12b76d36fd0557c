"""Console and requester pages: who may open them, the forms, empty states, and the notification badge."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from access.models import Grant
from tenants.models import Membership, User
from tenants.services import user_get_or_create
from tests.approvals.conftest import level_of
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

CONSOLE_PAGES = [
    "/console/requests/",
    "/console/members/",
    "/console/grants/",
    "/console/teams/",
    "/console/explain/",
    "/console/terms/",
]


def browser(user) -> Client:
    client = Client(HTTP_HOST="lab-a.test")
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", CONSOLE_PAGES)
def test_console_pages_are_for_stewards_and_owners(gov_study, clients, path) -> None:
    for role in ("owner", "steward"):
        response = browser(clients[role].user).get(path)
        assert response.status_code == 200, (role, path)
    for role in ("analyst", "viewer"):
        assert browser(clients[role].user).get(path).status_code == 403
    assert Client(HTTP_HOST="lab-a.test").get(path).status_code == 302  # to sign-in


def test_console_link_and_badge_in_the_top_bar(gov_study, clients) -> None:
    steward_page = browser(clients["steward"].user).get("/").content.decode()
    assert 'href="/console/"' in steward_page
    analyst = browser(clients["analyst"].user)
    assert 'href="/console/"' not in analyst.get("/").content.decode()
    analyst.post("/access/request/gov/", {"datasets": ["cognitive"], "level": "count", "purpose": "Pilot counts."})
    assert "data-unread=" in browser(clients["steward"].user).get("/").content.decode()


def test_request_approve_in_console_and_use(gov_study, clients, tenant_a) -> None:
    analyst = browser(clients["analyst"].user)
    form = analyst.get("/access/request/gov/?dataset=cognitive")
    assert form.status_code == 200 and b'value="cognitive" checked' in form.content
    empty = analyst.post("/access/request/gov/", {"datasets": ["cognitive"], "level": "query", "purpose": ""})
    assert empty.status_code == 422 and b"purpose" in empty.content
    sent = analyst.post(
        "/access/request/gov/", {"datasets": ["cognitive"], "level": "query", "purpose": "Working memory by age."}
    )
    assert sent.status_code == 302 and sent["Location"] == "/access/requests/"
    mine = analyst.get("/access/requests/").content.decode()
    assert 'data-status="pending"' in mine and "Working memory by age." in mine

    steward = browser(clients["steward"].user)
    queue = steward.get("/console/requests/").content.decode()
    assert clients["analyst"].user.email in queue and "Working memory by age." in queue
    request_id = int(queue.split('data-request="')[1].split('"')[0])
    denied = steward.post(f"/console/requests/{request_id}/decide/", {"decision": "deny", "reason": ""})
    assert denied.status_code == 302
    assert "Give the requester a reason" in steward.get("/console/requests/").content.decode()
    approved = steward.post(
        f"/console/requests/{request_id}/decide/",
        {"decision": "approve", "level": "count", "expires_at": "2099-01-01T12:00"},
    )
    assert approved.status_code == 302
    assert level_of(tenant_a, clients["analyst"].user, "gov", "cognitive") == "count"
    notices = analyst.get("/notifications/").content.decode()
    assert "approved" in notices and "is-unread" in notices
    analyst.post("/notifications/read/")
    assert "is-unread" not in analyst.get("/notifications/").content.decode()
    assert 'data-status="approved"' in analyst.get("/access/requests/").content.decode()


def test_members_page_invites_changes_roles_and_removes(gov_study, clients, tenant_a) -> None:
    steward = browser(clients["steward"].user)
    page = steward.get("/console/members/").content.decode()
    assert (
        clients["owner"].user.email in page
        and 'value="owner"' not in page.split("Invite someone")[1].split("</form>")[0]
    )
    newcomer = user_get_or_create(email="console-newcomer@example.org", password=PASSWORD)  # verified address
    steward.post("/console/members/invite/", {"email": newcomer.email, "role": "viewer"})
    assert Membership.objects.get(tenant=tenant_a, user=newcomer).role == "viewer"
    steward.post("/console/members/role/", {"email": newcomer.email, "role": "analyst"})
    assert Membership.objects.get(tenant=tenant_a, user=newcomer).role == "analyst"
    steward.post("/console/members/role/", {"email": clients["steward"].user.email, "role": "owner"})
    assert "Only an owner may make someone an owner." in steward.get("/console/members/").content.decode()
    steward.post("/console/members/remove/", {"email": newcomer.email})
    assert not Membership.objects.filter(tenant=tenant_a, user=newcomer).exists()


def test_grants_teams_explain_and_terms_pages(gov_study, clients, tenant_a) -> None:
    steward = browser(clients["steward"].user)
    analyst_email = clients["analyst"].user.email
    created = steward.post(
        "/console/grants/new/",
        {"study": "gov", "dataset": "cognitive", "email": analyst_email, "level": "query", "reason": "Pilot"},
    )
    assert created.status_code == 302
    assert level_of(tenant_a, clients["analyst"].user, "gov", "cognitive") == "query"
    by_dataset = steward.get("/console/grants/?study=gov&dataset=cognitive").content.decode()
    assert analyst_email in by_dataset and "Pilot" in by_dataset
    by_person = steward.get(f"/console/grants/?email={analyst_email}").content.decode()
    assert "cognitive" in by_person
    explained = steward.get(f"/console/explain/?email={analyst_email}&dataset_ref=gov/cognitive").content.decode()
    assert 'data-level="query"' in explained
    with tenant_context(tenant_a):
        grant_id = Grant.objects.get(user_id=clients["analyst"].user.pk).pk
    connection.set_schema_to_public()
    steward.post(f"/console/grants/{grant_id}/revoke/", {"next": "/console/grants/"})
    assert level_of(tenant_a, clients["analyst"].user, "gov", "cognitive") == "metadata"
    bad = steward.post(
        "/console/grants/new/", {"study": "gov", "dataset": "nope", "email": analyst_email, "level": "query"}
    )
    assert bad.status_code == 302
    assert "No such dataset." in steward.get("/console/grants/").content.decode()

    steward.post("/console/teams/new/", {"name": "Imaging"})
    steward.post("/console/teams/imaging/members/", {"action": "add", "email": analyst_email})
    assert analyst_email in steward.get("/console/teams/").content.decode()

    assert "no terms of use yet" in steward.get("/console/terms/?study=gov").content.decode()
    steward.post("/console/terms/", {"study": "gov", "text": "Do not re-identify participants."})
    terms_page = steward.get("/console/terms/?study=gov").content.decode()
    assert "Version 1" in terms_page and "Do not re-identify participants." in terms_page
    form = browser(clients["analyst"].user).get("/access/request/gov/").content.decode()
    assert "Do not re-identify participants." in form and 'name="accept_terms"' in form


def test_catalog_offers_request_access_to_analysts(gov_study, clients) -> None:
    page = browser(clients["analyst"].user).get("/studies/gov/datasets/cognitive/")
    if page.status_code == 200:  # the dataset page needs a version; the study page always renders
        assert b"/access/request/gov/" in page.content
    assert browser(clients["viewer"].user).get("/access/request/gov/").status_code == 200
    refused = browser(clients["viewer"].user).post(
        "/access/request/gov/", {"datasets": ["cognitive"], "level": "count", "purpose": "x"}
    )
    assert refused.status_code == 403 and b"Viewers see catalog metadata only" in refused.content


def test_superusers_see_governance_records_in_the_workspace_admin(gov_study, clients) -> None:
    admin_user = User.objects.create_superuser(email="root-admin@example.org", password=PASSWORD)
    client = browser(admin_user)
    assert client.get("/admin/approvals/accessrequest/").status_code == 200
    assert client.get("/admin/access/grant/").status_code == 200
    assert client.get("/admin/access/team/").status_code == 200
    platform = Client(HTTP_HOST="platform.test")
    platform.force_login(admin_user)
    index = platform.get("/admin/")
    assert index.status_code == 200 and b"/admin/approvals/" not in index.content  # tenant tables live elsewhere
    assert browser(clients["owner"].user).get("/admin/approvals/accessrequest/").status_code == 302
