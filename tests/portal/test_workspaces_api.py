"""Self-service workspaces on the platform host: GET/POST /api/v1/workspaces (session or platform token)."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.test import Client
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from core.config import config_get
from tenants.models import Membership, Tenant
from tenants.roles import Role
from tests.conftest import ApiClient
from tests.portal.conftest import PLATFORM


def _create(client: Client, **body: str) -> object:
    return client.post("/api/v1/workspaces", body, content_type="application/json")


def test_create_a_workspace_and_find_it_in_my_list(platform_client) -> None:
    client = platform_client()
    created = _create(client, slug="neuro-lab", name="Neuro Lab", kind="consortium")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body == {
        "slug": "neuro-lab",
        "name": "Neuro Lab",
        "kind": "consortium",
        "role": "owner",
        "url": "http://neuro-lab.test/",
        "suspended": False,
    }
    tenant = Tenant.objects.get(slug="neuro-lab")
    assert tenant.primary_domain_name() == "neuro-lab.test"
    assert Membership.objects.get(tenant=tenant, user=client.user).role == Role.OWNER
    assert config_get("analyst_default_level", tenant) == "metadata"  # the consortium profile
    listed = client.get("/api/v1/workspaces").json()
    assert listed == [body]
    with schema_context(tenant.schema_name):
        assert AuditEvent.objects.filter(action="member.added", actor=client.user).exists()
    # The new host serves the workspace, and its owner is a member there
    assert ApiClient(host="neuro-lab.test").get("/api/v1/me").status_code == 401


def test_bad_input_is_refused_clearly_and_creates_nothing(platform_client) -> None:
    client = platform_client()
    before = Tenant.objects.count()
    cases = [
        ({"slug": "Bad Slug!", "name": "X"}, 422, "invalid_slug"),
        ({"slug": "platform", "name": "X"}, 422, "invalid_slug"),
        ({"slug": "www", "name": "X"}, 422, "invalid_slug"),
        ({"slug": "fine-slug", "name": "  "}, 422, "invalid_name"),
        ({"slug": "fine-slug", "name": "X", "kind": "enterprise"}, 422, "invalid_kind"),
        ({"slug": "lab-a", "name": "Lab A"}, 409, "workspace_exists"),  # taken (even with the same name)
    ]
    for body, status, code in cases:
        response = _create(client, **body)
        assert response.status_code == status, (body, response.content)
        assert response.json()["error"]["code"] == code
    missing = client.post("/api/v1/workspaces", {"slug": "x"}, content_type="application/json")
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "invalid_input"
    assert Tenant.objects.count() == before


def test_the_api_needs_a_person_and_csrf_for_the_session(platform_client) -> None:
    anonymous = Client(HTTP_HOST=PLATFORM)
    schema = anonymous.get("/api/v1/openapi.json").json()
    assert set(schema["paths"]) == {"/api/v1/workspaces"}  # the platform host serves no workspace endpoint
    assert anonymous.get("/api/v1/studies").status_code == 404
    assert anonymous.get("/api/v1/workspaces").status_code == 401
    assert _create(anonymous, slug="anon-lab", name="Anon").status_code == 401
    strict = platform_client(csrf=True)
    refused = _create(strict, slug="csrf-lab", name="Csrf")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    assert not Tenant.objects.filter(slug="csrf-lab").exists()


def test_platform_token_lists_and_creates_and_works_nowhere_else(person, api, tenant_a) -> None:
    someone = person()
    out = StringIO()
    call_command("token_create", "--platform", "--email", someone.email, stdout=out, stderr=StringIO())
    token = out.getvalue().strip().splitlines()[-1]
    platform = ApiClient(host=PLATFORM, token=token)
    assert platform.get("/api/v1/workspaces").json() == []
    assert platform.post("/api/v1/workspaces", {"slug": "token-lab", "name": "Token Lab"}).status_code == 201
    assert [w["slug"] for w in platform.get("/api/v1/workspaces").json()] == ["token-lab"]
    # ...but it is no key to a workspace host, and a workspace token is none to the platform host
    assert ApiClient(host="token-lab.test", token=token).get("/api/v1/me").status_code == 401
    member = api(tenant_a, "owner")
    assert ApiClient(host=PLATFORM, token=member.token).get("/api/v1/workspaces").status_code == 401


def test_workspace_creation_policy(platform_client, person, platform_setting, tenant_a, make_member) -> None:
    platform_setting("workspace_creation", "domains")
    platform_setting("workspace_creation_domains", "uni.example, @lab.example")
    stranger = platform_client(person("someone@elsewhere.example"))
    refused = _create(stranger, slug="stranger-lab", name="Stranger")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "workspace_creation_closed"
    approved = platform_client(person("someone@lab.example"))
    assert _create(approved, slug="approved-lab", name="Approved").status_code == 201

    platform_setting("workspace_creation", "invited")
    assert _create(stranger, slug="stranger-lab", name="Stranger").status_code == 403
    invited = make_member(tenant_a, Role.ANALYST)
    assert _create(platform_client(invited), slug="invited-lab", name="Invited").status_code == 201
    assert not Tenant.objects.filter(slug="stranger-lab").exists()

    platform_setting("workspace_creation", "anyone")
    platform_setting("workspaces_per_person", "1")
    again = _create(approved, slug="second-lab", name="Second")
    assert again.status_code == 409 and again.json()["error"]["code"] == "workspace_limit"
