"""Management commands of docs/contract.md §1: tenant_create, token_create, seed_demo."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django_tenants.utils import tenant_context

from access.levels import Level
from access.models import Grant
from access.selectors import dataset_level_for_user
from approvals.models import DataUseAgreement
from datasets.models import Study
from tenants.models import Domain, Membership, Tenant, User

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_tenant_create_is_idempotent_and_serves_its_host() -> None:
    first = run("tenant_create", "lab-c", "--name", "Lab C", "--domain", "lab-c.test", "--owner", "boss@lab-c.org")
    assert "Created tenant lab-c (lab" in first
    second = run("tenant_create", "lab-c", "--name", "Lab C", "--domain", "lab-c.test", "--owner", "boss@lab-c.org")
    assert "Already present" in second
    tenant = Tenant.objects.get(slug="lab-c")
    assert tenant.schema_name == "t_lab_c"
    assert Domain.objects.filter(tenant=tenant).count() == 1
    assert Membership.objects.get(tenant=tenant, user__email="boss@lab-c.org").role == "owner"
    assert Client().get("/api/v1/me", HTTP_HOST="lab-c.test").status_code == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lab-a", "--name", "Another name", "--domain", "lab-a.test"], "already exists"),
        (["lab-x", "--name", "X", "--domain", "lab-a.test"], "already belongs to another tenant"),
        (["Bad Slug", "--name", "X", "--domain", "x.test"], "Invalid tenant slug"),
        (["platform", "--name", "X", "--domain", "x.test"], "reserved"),
        (["lab-y", "--name", "Y", "--domain", "http://y.test/"], "not a valid host name"),
        (["lab-z", "--name", "Z", "--domain", "platform.test"], "public host"),
        (["lab-a", "--name", "Lab A", "--domain", "lab-a.test", "--kind", "consortium"], "already exists as a lab"),
    ],
)
def test_tenant_create_rejects_bad_input(args: list[str], message: str) -> None:
    before = Tenant.objects.count()
    with pytest.raises(CommandError, match=message):
        run("tenant_create", *args)
    assert Tenant.objects.count() == before


def test_consortium_kind_starts_analysts_at_metadata_and_shows_in_me() -> None:
    out = run(
        "tenant_create",
        "cons-x",
        "--name",
        "Consortium X",
        "--domain",
        "cons-x.test",
        "--kind",
        "consortium",
        "--owner",
        "chair@cons-x.org",
    )
    assert "Created tenant cons-x (consortium" in out
    run("tenant_create", "lab-k", "--name", "Lab K", "--domain", "lab-k.test")
    lab = Tenant.objects.get(slug="lab-k")
    assert lab.kind == "lab" and "analyst_default_level" not in lab.settings
    tenant = Tenant.objects.get(slug="cons-x")
    assert tenant.kind == "consortium"
    assert tenant.settings["analyst_default_level"] == "metadata"
    owner = User.objects.get(email="chair@cons-x.org")
    client = Client()
    client.force_login(owner)
    me = client.get("/api/v1/me", HTTP_HOST="cons-x.test").json()
    assert me["tenant"] == {"slug": "cons-x", "name": "Consortium X", "kind": "consortium"}


def test_tenant_create_rejects_an_unknown_kind() -> None:
    with pytest.raises(CommandError, match="invalid choice"):
        run("tenant_create", "lab-q", "--name", "Q", "--domain", "q.test", "--kind", "club")
    assert not Tenant.objects.filter(slug="lab-q").exists()


def test_token_create_prints_a_working_token_last(tenant_a) -> None:
    out = run(
        "token_create", "--tenant", "lab-a", "--email", "script@lab-a.org", "--role", "steward", "--expires-days", "5"
    )
    token = out.strip().splitlines()[-1]
    response = Client().get("/api/v1/me", HTTP_HOST="lab-a.test", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response.json()["role"] == "steward" and response.json()["user"]["email"] == "script@lab-a.org"


def test_token_create_defaults_to_analyst_and_keeps_existing_role(tenant_a) -> None:
    run("token_create", "--tenant", "lab-a", "--email", "keep@lab-a.org")
    assert Membership.objects.get(user__email="keep@lab-a.org", tenant=tenant_a).role == "analyst"
    run("token_create", "--tenant", "lab-a", "--email", "keep@lab-a.org", "--role", "viewer")
    run("token_create", "--tenant", "lab-a", "--email", "keep@lab-a.org")
    assert Membership.objects.get(user__email="keep@lab-a.org", tenant=tenant_a).role == "viewer"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope", "--email", "a@b.org"], "No tenant with slug"),
        (["--tenant", "lab-a", "--email", "not-an-email"], "not a valid e-mail"),
        (["--tenant", "lab-a", "--email", "a@b.org", "--expires-days", "0"], "must expire in 1 to"),
    ],
)
def test_token_create_rejects_bad_input(tenant_a, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("token_create", *args)


def test_seed_demo_is_idempotent_and_demo_login_works() -> None:
    run("seed_demo", "--tenant", "demo-x", "--participants", "50")
    run("seed_demo", "--tenant", "demo-x", "--participants", "50")
    tenant = Tenant.objects.get(slug="demo-x")
    assert Membership.objects.filter(tenant=tenant).count() == 5
    browser = Client(HTTP_HOST="demo-x.localhost")
    assert browser.login(email="owner@demo.local", password="demo-password-1")
    assert browser.get("/").status_code == 200
    # The demo's governance is seeded once: a count-only default for analysts, the core analyst's export grant,
    # one version of the terms of use.
    with tenant_context(tenant):
        study = Study.objects.get(slug="demo-study")
        live = Grant.objects.filter(study=study, revoked_at__isnull=True)
        assert list(live.filter(role="analyst").values_list("level", flat=True)) == ["count"]
        assert list(live.filter(user__email="analyst@demo.local").values_list("level", flat=True)) == ["export"]
        assert DataUseAgreement.objects.filter(study=study).count() == 1
        demographics = study.datasets.get(name="demographics")
        researcher = User.objects.get(email="researcher@demo.local")
        analyst = User.objects.get(email="analyst@demo.local")
        assert dataset_level_for_user(user=researcher, tenant=tenant, dataset=demographics) == Level.COUNT
        assert dataset_level_for_user(user=analyst, tenant=tenant, dataset=demographics) == Level.EXPORT


def test_seed_demo_rejects_bad_participants() -> None:
    with pytest.raises(CommandError, match="at least 1"):
        run("seed_demo", "--participants", "0")
