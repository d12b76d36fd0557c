"""Each defect the API fuzzer (test_api_fuzz.py) found, replayed exactly: the request it sent, and the answer we now
give (the documented error shape and a 4xx, never a 500; nothing changed on the server)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from tests.fuzz.test_api_fuzz import error_shape_problem

pytestmark = [pytest.mark.django_db]

COUNT = "/api/v1/studies/memory/count"


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert error_shape_problem(response.content) is None, response.content[:300]
    body = json.loads(response.content)["error"]
    assert body["code"] == code, body
    return body  # type: ignore[no-any-return]


def test_an_unsupported_method_answers_405_in_the_error_shape(steward_api: Any) -> None:
    """Found: ``TRACE /api/v1/health`` answered a plain-text ``Method not allowed``."""
    response = steward_api.client.generic("TRACE", "/api/v1/health")
    _error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]
    _error(steward_api.client.generic("PATCH", "/api/v1/me"), 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/api/v1/tokens", "/api/v1/studies", "/api/v1/audit"])
def test_a_page_number_beyond_any_list_is_invalid_input(steward_api: Any, path: str) -> None:
    """Found: ``GET /api/v1/tokens?page=2766250123253830144`` made the row offset overflow PostgreSQL's bigint (500)."""
    _error(steward_api.get(f"{path}?page=2766250123253830144&page_size=98"), 422, "invalid_input")
    assert steward_api.get(f"{path}?page=1000000").status_code == 200  # the largest page number is still served


def test_a_page_number_beyond_any_result_is_invalid_for_rows(steward_api: Any, study_ro: str, execute: Any) -> None:
    created = steward_api.post(f"/api/v1/studies/{study_ro}/queries", {"columns": {"cognitive": ["working_memory"]}})
    assert execute(created.json()["id"]) == "succeeded"
    _error(steward_api.get(f"/api/v1/queries/{created.json()['id']}/rows?page=92233720368547760"), 422, "invalid_input")


@pytest.mark.parametrize("field", ["description", "allow_duplicate_keys", "name", "engine"])
def test_null_for_a_required_study_setting_is_refused(steward_api: Any, study_ro: str, field: str) -> None:
    """Found: ``PATCH /api/v1/studies/fuzz {"allow_duplicate_keys": null}`` (and ``description``) hit a NOT NULL
    constraint (500)."""
    before = steward_api.get(f"/api/v1/studies/{study_ro}").json()
    response = steward_api.patch(f"/api/v1/studies/{study_ro}", {field: None})
    assert response.status_code == 422 and error_shape_problem(response.content) is None, response.content
    assert steward_api.get(f"/api/v1/studies/{study_ro}").json() == before


def test_a_role_column_must_be_a_column_of_the_demographics_table(steward_api: Any, study_ro: str) -> None:
    """Found: ``PATCH /api/v1/studies/fuzz {"age_column": "<random text>"}`` was accepted after data was registered;
    from then on every count, run and report of the study answered 500 (one request broke the study for everyone)."""
    body = _error(
        steward_api.patch(f"/api/v1/studies/{study_ro}", {"age_column": "Z\x7f±]G"}), 422, "key_column_not_in_data"
    )
    assert "age" in body["details"]["columns"]
    _error(steward_api.patch(f"/api/v1/studies/{study_ro}", {"site_column": "nope"}), 422, "key_column_not_in_data")
    assert steward_api.get(f"/api/v1/studies/{study_ro}").json()["age_column"] == "age"
    assert steward_api.post(COUNT, {}).status_code == 200
    assert steward_api.patch(f"/api/v1/studies/{study_ro}", {"age_column": "age"}).status_code == 200  # a real column


def test_a_study_whose_settings_no_longer_match_its_tables_answers_409(
    steward_api: Any, study: str, tenant_a: Any
) -> None:
    """The same broken state reached another way (e.g. a demographics version without the configured column): counts
    and runs say what is wrong instead of failing with 500."""
    from datasets.models import Study

    with tenant_context(tenant_a):
        Study.objects.filter(slug=study).update(age_column="no_such_column")
    connection.set_schema_to_public()
    body = _error(steward_api.post(COUNT, {}), 409, "study_keys_invalid")
    assert "no_such_column" in body["message"]
    _error(steward_api.post(f"/api/v1/studies/{study}/queries", {}), 409, "study_keys_invalid")
    _error(steward_api.post(f"/api/v1/studies/{study}/report", {}), 409, "study_keys_invalid")


def test_a_multipart_body_without_boundary_is_a_bad_request(steward_api: Any, study_ro: str) -> None:
    """Found: ``POST /api/v1/studies/0/datasets`` with ``Content-Type: multipart/form-data`` and no boundary (500)."""
    response = steward_api.client.post(
        f"/api/v1/studies/{study_ro}/datasets",
        data=b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nscores\r\n--x--\r\n',
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {steward_api.token}"},
    )
    _error(response, 400, "malformed_multipart")


@pytest.mark.parametrize("path", ["/api/v1/audit/export.csv", "/api/v1/audit"])
def test_date_times_are_taken_in_utc_and_impossible_ones_are_invalid(steward_api: Any, path: str) -> None:
    """Found: ``GET /api/v1/audit/export.csv?since=2000-01-01T00:00:00+16:00`` failed while streaming (an HTML 500
    from the server after the headers): PostgreSQL refuses offsets beyond 15:59. Date-times are now converted to UTC
    on input, so that instant is served; one that does not exist in UTC is invalid input."""
    from urllib.parse import quote

    response = steward_api.get(f"{path}?since={quote('2000-01-01T00:00:00+16:00')}")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body
    audit = steward_api.get("/api/v1/audit?action=audit.read").json()["items"]  # newest first, this read included
    assert audit[1]["details"]["filters"]["since"] == "1999-12-31T08:00:00+00:00"
    _error(steward_api.get(f"{path}?since={quote('0001-01-01T00:00:00+01:00')}"), 422, "invalid_input")


def test_grant_expiry_with_an_unstorable_offset_is_invalid_input(steward_api: Any, study_ro: str) -> None:
    response = steward_api.post(
        f"/api/v1/studies/{study_ro}/datasets/cognitive/grants",
        {"email": "nobody@example.org", "level": "query", "expires_at": "0001-01-01T00:00:00+10:00"},
    )
    _error(response, 422, "invalid_input")
