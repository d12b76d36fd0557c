"""Studies through the API: create, read, change, and who may."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_create_and_get_a_longitudinal_study(steward_api, make_study) -> None:
    created = make_study("memory", age_column="age", sex_column="sex", site_column="site", engine="postgres")
    assert created["longitudinal"] is True and created["session_column"] == "session"
    assert created["engine"] == "postgres" and created["demographics"] is None
    fetched = steward_api.get("/api/v1/studies/memory").json()
    assert fetched == created
    listing = steward_api.get("/api/v1/studies").json()
    assert listing["total"] == 1 and listing["items"][0]["slug"] == "memory"


def test_a_study_may_choose_the_spark_engine_and_change_it(steward_api, make_study) -> None:
    assert make_study("big", engine="spark")["engine"] == "spark"
    changed = steward_api.patch("/api/v1/studies/big", {"engine": "duckdb"})
    assert changed.status_code == 200 and changed.json()["engine"] == "duckdb"
    refused = steward_api.patch("/api/v1/studies/big", {"engine": "hadoop"})
    assert refused.status_code == 422 and steward_api.get("/api/v1/studies/big").json()["engine"] == "duckdb"


def test_cross_sectional_when_no_session(make_study) -> None:
    study = make_study("snapshot", session_column=None)
    assert study["longitudinal"] is False and study["session_column"] is None


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"slug": "Bad Slug", "name": "x", "id_column": "id"}, 422, "invalid_slug"),
        ({"slug": "ok", "name": "x"}, 422, "invalid_input"),
        ({"slug": "ok", "name": "x", "id_column": "id", "engine": "oracle"}, 422, "invalid_input"),
        ({"slug": "ok", "name": "x", "id_column": "id", "session_column": "id"}, 422, "duplicate_key_columns"),
        ({"slug": "ok", "name": "x", "id_column": "id", "unknown": 1}, 201, None),
    ],
)
def test_create_rejects_bad_input(steward_api, payload, status, code) -> None:
    response = steward_api.post("/api/v1/studies", payload)
    assert response.status_code == status, response.content
    if code:
        assert response.json()["error"]["code"] == code


def test_duplicate_slug_is_409(steward_api, make_study) -> None:
    make_study("memory")
    response = steward_api.post("/api/v1/studies", {"slug": "memory", "name": "Again", "id_column": "id"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "study_exists"


@pytest.mark.parametrize("role", ["analyst", "viewer"])
def test_only_stewards_and_owners_create_studies(api, tenant_a, role) -> None:
    response = api(tenant_a, role).post("/api/v1/studies", {"slug": "nope", "name": "No", "id_column": "id"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "role_insufficient"


def test_owner_creates_and_viewer_reads(api, tenant_a) -> None:
    owner = api(tenant_a, "owner")
    assert owner.post("/api/v1/studies", {"slug": "own", "name": "Own", "id_column": "id"}).status_code == 201
    assert api(tenant_a, "viewer").get("/api/v1/studies/own").status_code == 200


def test_unknown_study_is_404_and_other_tenant_cannot_see_it(api, tenant_a, tenant_b, make_study) -> None:
    make_study("secret")
    outsider = api(tenant_b, "owner")
    assert outsider.get("/api/v1/studies/secret").status_code == 404
    assert outsider.get("/api/v1/studies").json()["total"] == 0
    assert api(tenant_a).get("/api/v1/studies/none").status_code == 404


def test_patch_changes_settings_and_history_records_it(steward_api, make_study, tenant_a) -> None:
    from django_tenants.utils import tenant_context

    from datasets.models import Study

    make_study("memory")
    response = steward_api.patch("/api/v1/studies/memory", {"name": "Memory study", "age_column": "age"})
    assert response.status_code == 200 and response.json()["name"] == "Memory study"
    with tenant_context(tenant_a):
        history = Study.history.filter(slug="memory").order_by("history_date")
        assert [h.name for h in history] == ["Memory", "Memory study"]


def test_patch_by_analyst_is_403(api, tenant_a, make_study) -> None:
    make_study("memory")
    assert api(tenant_a, "analyst").patch("/api/v1/studies/memory", {"name": "x"}).status_code == 403


def test_key_columns_freeze_once_data_is_registered(steward_api, make_study, upload) -> None:
    from tests.csv_data import UPLOAD_DEMOGRAPHICS as DEMOGRAPHICS

    make_study("memory")
    _, ingest = upload("memory", DEMOGRAPHICS, "demographics", kind="demographics")
    assert ingest["status"] == "succeeded", ingest
    response = steward_api.patch("/api/v1/studies/memory", {"id_column": "subject"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "keys_frozen"
    assert steward_api.patch("/api/v1/studies/memory", {"age_column": "age"}).status_code == 200


def test_workspace_home_lists_studies(steward_api, make_study) -> None:
    from django.test import Client

    from tests.conftest import PASSWORD

    browser = Client(HTTP_HOST="lab-a.test")
    assert browser.login(email=steward_api.user.email, password=PASSWORD)
    assert b"No studies yet" in browser.get("/").content
    make_study("memory")
    page = browser.get("/").content.decode()
    assert "Memory" in page and "/studies/memory/" in page and "No studies yet" not in page
