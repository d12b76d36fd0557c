"""Error messages never echo unbounded input: whatever field carries it, the answer comes back cut (one place shapes
every error, so this holds for every endpoint and field)."""

from __future__ import annotations

import json

from core.errors import DETAIL_MAX_CHARS, DETAIL_MAX_ITEMS, MESSAGE_MAX_CHARS, ApiError

LONG = "x" * 20_000


def _assert_bounded(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert len(error["message"]) <= MESSAGE_MAX_CHARS
    assert LONG[:1000] not in response.content.decode()  # no long run of the input anywhere in the answer
    assert len(response.content) < 20_000
    return error


def test_a_20000_character_sort_comes_back_truncated(steward_api, study_ro, execute) -> None:
    run_id = steward_api.post("/api/v1/studies/memory/queries", {"columns": {"cognitive": ["working_memory"]}}).json()[
        "id"
    ]
    assert execute(run_id) == "succeeded"
    error = _assert_bounded(steward_api.get(f"/api/v1/queries/{run_id}/rows?sort={LONG}"), 422)
    assert error["code"] == "unknown_column" and error["message"].startswith("Cannot sort by 'xxx")
    assert error["message"].endswith("…")


def test_long_names_in_a_spec_come_back_truncated(steward_api, study_ro) -> None:
    for spec in (
        {"filters": [{"dataset": "cognitive", "column": LONG, "op": "eq", "value": 1}]},
        {"filters": [{"dataset": LONG, "column": "x", "op": "eq", "value": 1}]},
        {"filters": [{"dataset": "cognitive", "column": "working_memory", "op": LONG, "value": 1}]},
        {"sessions": [LONG]},
    ):
        response = steward_api.post("/api/v1/studies/memory/count", spec)
        assert 400 <= response.status_code < 500
        _assert_bounded(response, response.status_code)


def test_many_unknown_names_are_listed_only_in_part(steward_api, study_ro) -> None:
    spec = {"columns": {f"missing_{i}": ["a"] for i in range(500)}}
    response = steward_api.post("/api/v1/studies/memory/queries", spec)
    assert 400 <= response.status_code < 500
    error = _assert_bounded(response, response.status_code)
    for value in error["details"].values():
        if isinstance(value, list):
            assert len(value) <= DETAIL_MAX_ITEMS + 1


def test_validation_errors_and_paths_are_bounded_too(steward_api, study_ro) -> None:
    response = steward_api.post("/api/v1/studies", {"slug": LONG, "name": LONG, LONG: LONG, "id_column": LONG})
    _assert_bounded(response, response.status_code)
    response = steward_api.patch(f"/api/v1/members/{LONG}@example.org", {"role": "viewer"})
    _assert_bounded(response, 404)
    response = steward_api.post("/api/v1/members", {"email": LONG, "role": "analyst"})
    _assert_bounded(response, 422)


def test_the_error_shape_itself_bounds_what_services_raise() -> None:
    error = ApiError(422, "invalid", f"Bad value {LONG!r}", {"value": LONG, "items": list(range(1000)), LONG: 1})
    assert len(error.message) == MESSAGE_MAX_CHARS and error.message.endswith("…")
    assert len(error.details["value"]) == DETAIL_MAX_CHARS
    assert len(error.details["items"]) == DETAIL_MAX_ITEMS + 1 and "950 more" in error.details["items"][-1]
    assert all(len(key) <= DETAIL_MAX_CHARS for key in error.details)
    assert len(json.dumps(error.details)) < 5_000
