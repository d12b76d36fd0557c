"""A study whose key columns do not fit its data (from an older version, or any future path) never answers 500:
every surface says 409 ``study_keys_invalid`` naming the column, and a steward repairs it (API or page; audited)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from datasets.models import Study
from queries.models import QueryRun
from tests.csv_data import MEMORY_DEMOGRAPHICS as DEMOGRAPHICS

pytestmark = pytest.mark.django_db

SPEC = {"filters": [{"dataset": "cognitive", "column": "working_memory", "op": "gte", "value": 90}]}
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def browser(tenant_a: Any, page_client: Any) -> Any:
    """``browser(role)`` -> a signed-in test client on lab A's host."""
    return lambda role: page_client(tenant_a, role)


def _break(tenant, **keys: str) -> None:
    """What an older version left behind: key columns the data does not have."""
    with tenant_context(tenant):
        Study.objects.filter(slug="memory").update(**keys)
    connection.set_schema_to_public()


def _is_keys_invalid(response: Any, column: str) -> None:
    assert response.status_code == 409, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert error["code"] == "study_keys_invalid"
    assert f"'{column}' is not a column of 'demographics'" in error["message"]
    assert any(p["column"] == column for p in error["details"]["problems"])


@pytest.mark.parametrize(
    ("keys", "column"),
    [({"site_column": "all_sites"}, "all_sites"), ({"age_column": "age_years"}, "age_years")],
)
def test_every_api_surface_answers_409_naming_the_missing_column(
    study, steward_api, tenant_a, execute, keys: dict[str, str], column: str
) -> None:
    earlier = steward_api.post("/api/v1/studies/memory/queries", SPEC).json()["id"]
    assert execute(earlier) == "succeeded"
    queued = steward_api.post("/api/v1/studies/memory/queries", {**SPEC, "columns": {"flanker": ["accuracy"]}})
    _break(tenant_a, **keys)
    base = "/api/v1/studies/memory"
    for method, path, body in (
        ("post", f"{base}/count", SPEC),
        ("post", f"{base}/count", {"sites": ["Discovery"]}),
        ("post", f"{base}/report", SPEC),
        ("post", f"{base}/queries", SPEC),
        ("post", f"{base}/saved-queries", {"name": "kept", "spec": SPEC}),
        ("post", f"/api/v1/queries/{earlier}/rerun", {}),
        ("get", f"/api/v1/queries/{earlier}/report", None),
    ):
        response = steward_api.post(path, body) if method == "post" else steward_api.get(path)
        _is_keys_invalid(response, column)
    shown = steward_api.get(base).json()
    assert shown["key_problems"] == [
        {"key": next(iter(keys)), "column": column, "dataset": "demographics", "candidates": []}
        if column != "all_sites"
        else {"key": "site_column", "column": "all_sites", "dataset": "demographics", "candidates": ["site"]}
    ]
    assert steward_api.get(f"{base}/datasets").status_code == 200  # the catalog itself still reads
    # A run queued before the keys broke fails with the same reason, not an internal error.
    assert execute(queued.json()["id"]) == "failed"
    with tenant_context(tenant_a):
        run = QueryRun.objects.get(pk=queued.json()["id"])
        assert run.error_code == "study_keys_invalid" and column in run.error_message


def test_every_page_says_so_and_stewards_get_the_repair_form(study, browser, tenant_a) -> None:
    _break(tenant_a, site_column="all_sites")
    analyst = browser("analyst")
    builder = analyst.get("/queries/memory/")
    html = builder.content.decode()
    assert builder.status_code == 409 and "key columns do not fit its data" in html
    assert "the site column &#x27;all_sites&#x27; is not a column of &#x27;demographics&#x27;" in html
    assert 'href="/studies/memory/#key-repair"' in html
    count = analyst.get("/queries/memory/count/", **HX)
    assert count.status_code == 409 and 'data-error="study_keys_invalid"' in count.content.decode()
    for path in ("/queries/memory/export.toml", "/queries/memory/export.json"):
        assert analyst.get(path).status_code == 409, path
    imported = analyst.post(
        "/queries/memory/import/", {"file": SimpleUploadedFile("q.toml", b"[cohort_filters]\nsessions=['BAS1']\n")}
    )
    assert imported.status_code == 409
    catalog = analyst.get("/studies/memory/").content.decode()
    assert "data-key-problems" in catalog and "A data steward or owner can repair it." in catalog
    assert "data-key-repair" not in catalog
    steward_page = browser("steward").get("/studies/memory/").content.decode()
    assert "data-key-repair" in steward_page and "all_sites (not in the data)" in steward_page


def test_a_steward_repairs_the_study_on_its_page_and_it_is_audited(study, browser, steward_api, tenant_a) -> None:
    _break(tenant_a, site_column="all_sites", age_column="age_years")
    analyst = browser("analyst")
    refused = analyst.post("/studies/memory/keys/", {"site_column": "site", "age_column": "age"})
    assert refused.status_code == 403
    steward = browser("steward")
    response = steward.post(
        "/studies/memory/keys/",
        {"session_column": "session", "site_column": "site", "age_column": "", "sex_column": "sex"},
    )
    assert response.status_code == 302
    page = steward.get("/studies/memory/").content.decode()
    assert "Key columns changed" in page and "data-key-problems" not in page
    with tenant_context(tenant_a):
        study_row = Study.objects.get(slug="memory")
        assert (study_row.site_column, study_row.age_column) == ("site", "")
        event = AuditEvent.objects.filter(action="study.updated").latest("id")
        assert event.actor_email == steward.user.email
        assert event.details["repaired"] == ["age_column", "site_column"]
        assert event.details["from"] == {"age_column": "age_years", "site_column": "all_sites"}
    counted = steward_api.post("/api/v1/studies/memory/count", {"sites": ["Discovery"]})
    assert counted.status_code == 200 and counted.json()["participants"] == 3
    assert analyst.get("/queries/memory/").status_code == 200


def test_repair_through_the_api_and_what_data_allows(study, steward_api, api, tenant_a) -> None:
    _break(tenant_a, site_column="all_sites")
    assert api(tenant_a, "analyst").patch("/api/v1/studies/memory", {"site_column": None}).status_code == 403
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"site_column": "all_studies"}, 422, "key_column_not_in_data"),  # re-point: only to a column it has
        ({"composite_id_column": "age"}, 422, "duplicate_key_columns"),  # already the age column
        ({"id_column": "site"}, 409, "keys_frozen"),
        ({"session_column": "site"}, 409, "keys_frozen"),  # the merge key is never re-pointed
        ({"session_column": None}, 409, "keys_frozen"),  # tables merge on it
    ]
    for body, status, code in cases:
        response = steward_api.patch("/api/v1/studies/memory", body)
        assert response.status_code == status and response.json()["error"]["code"] == code, body
    assert (
        "cognitive, demographics, flanker"
        in steward_api.patch("/api/v1/studies/memory", {"session_column": None}).json()["error"]["message"]
    )
    dropped = steward_api.patch("/api/v1/studies/memory", {"site_column": None})
    assert dropped.status_code == 200 and dropped.json()["key_problems"] == []
    assert steward_api.post("/api/v1/studies/memory/count", {}).status_code == 200
    repointed = steward_api.patch("/api/v1/studies/memory", {"age_column": "sex", "sex_column": None})
    assert repointed.status_code == 200 and repointed.json()["age_column"] == "sex"


def test_a_later_demographics_version_must_keep_the_key_columns(study, upload) -> None:
    without_age = DEMOGRAPHICS.replace(",age,", ",years,", 1)
    _, ingest = upload("memory", without_age, "demographics", kind="demographics")
    assert ingest["status"] == "failed" and ingest["error"]["code"] == "missing_key_column"
    assert "The age column 'age' is not in the file" in ingest["error"]["message"]
