"""REDCap and LORIS over their documented APIs, against recorded conversations served over HTTP (neither service
can run here): instruments become datasets, events and visits become sessions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.connectors.recorded import Conversation, recorded_server

REDCAP_TOKEN = "redcap-test-token-0123456789ABCDEF"
DEMOGRAPHICS = (
    "participant_id,session,age\n1,baseline_arm_1,70\n1,followup_arm_1,71\n2,baseline_arm_1,66\n"
    "2,followup_arm_1,67\n3,baseline_arm_1,80\n"
)


@pytest.fixture
def redcap() -> Iterator[Conversation]:
    with recorded_server("redcap") as conversation:
        yield conversation


def test_redcap_instruments_sync_in_batches_with_events_as_sessions(
    steward_api: Any, make_study: Any, upload: Any, redcap: Conversation, run_sync: Any
) -> None:
    config = {"url": f"{redcap.url}/api/", "batch_records": 2}
    created = steward_api.post(
        "/api/v1/connections", {"name": "redcap", "kind": "redcap", "config": config, "secret": {"token": REDCAP_TOKEN}}
    )
    assert created.status_code == 201, created.content
    assert REDCAP_TOKEN not in created.content.decode()
    connection_id = created.json()["id"]
    sources = steward_api.get(f"/api/v1/connections/{connection_id}/sources").json()["items"]
    assert sources == [{"name": "enrollment", "kind": "instrument"}, {"name": "cognition", "kind": "instrument"}]
    make_study("redcap-study")
    _, job = upload("redcap-study", DEMOGRAPHICS, "demographics", kind="demographics")
    assert job["status"] == "succeeded", job
    response = steward_api.post(
        "/api/v1/studies/redcap-study/syncs",
        {"connection": connection_id, "source": "cognition", "dataset": "cognition", "kind": "measure"},
    )
    assert response.status_code == 201, response.content
    synced = run_sync(response.json()["id"])
    assert synced["runs"][0]["status"] == "succeeded", synced["runs"][0]
    assert synced["runs"][0]["rows"] == 4  # record 2's follow-up was not filled in: no row
    version = steward_api.get("/api/v1/studies/redcap-study/datasets/cognition").json()["latest_version"]
    columns = [column["name"] for column in version["columns"]]
    assert columns == ["participant_id", "session", "moca", "domains___1", "domains___2"]
    assert [c["type"] for c in version["columns"] if c["name"] == "moca"] == ["integer"]
    batches = [r["form"] for r in redcap.requests if r["form"].get("forms[0]") == "cognition"]
    assert [sorted(k for k in form if k.startswith("records[")) for form in batches] == [
        ["records[0]", "records[1]"],  # answered 429 first, retried after Retry-After
        ["records[0]", "records[1]"],
        ["records[0]"],
    ]
    assert redcap.unmatched == []
    assert all(request["form"]["token"] == REDCAP_TOKEN for request in redcap.requests)


def test_redcap_wrong_token_is_connection_failed(steward_api: Any, redcap: Conversation) -> None:
    config = {"url": f"{redcap.url}/api/"}
    response = steward_api.post(
        "/api/v1/connections",
        {"name": "redcap", "kind": "redcap", "config": config, "secret": {"token": "wrong-token"}},
    )
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "connection_failed",
        "message": "REDCap refused the API token.",
        "details": {},
    }


@pytest.fixture
def loris() -> Iterator[Conversation]:
    with recorded_server("loris") as conversation:
        yield conversation


def test_loris_candidates_visits_and_instruments_sync(
    steward_api: Any, make_study: Any, loris: Conversation, run_sync: Any
) -> None:
    config = {"url": loris.url, "project": "Pumpernickel"}
    secret = {"username": "steward", "password": "loris-pass-9"}
    created = steward_api.post(
        "/api/v1/connections", {"name": "loris", "kind": "loris", "config": config, "secret": secret}
    )
    assert created.status_code == 201, created.content
    connection_id = created.json()["id"]
    sources = steward_api.get(f"/api/v1/connections/{connection_id}/sources").json()["items"]
    assert sources == [{"name": "candidates", "kind": "candidates"}, {"name": "bmi", "kind": "instrument"}]
    make_study("loris-study")
    syncs = {}
    for source, kind in (("candidates", "demographics"), ("bmi", "measure")):
        response = steward_api.post(
            "/api/v1/studies/loris-study/syncs",
            {"connection": connection_id, "source": source, "dataset": source, "kind": kind},
        )
        assert response.status_code == 201, response.content
        syncs[source] = response.json()["id"]
        synced = run_sync(syncs[source])
        assert synced["runs"][0]["status"] == "succeeded", synced["runs"][0]
    candidates = steward_api.get("/api/v1/studies/loris-study/datasets/candidates").json()["latest_version"]
    assert candidates["row_count"] == 3  # one row per candidate and visit
    bmi = steward_api.get("/api/v1/studies/loris-study/datasets/bmi").json()["latest_version"]
    assert bmi["row_count"] == 2 and [c["name"] for c in bmi["columns"]] == [
        "participant_id",
        "session",
        "height_cms",
        "weight_kgs",
    ]
    assert loris.unmatched == []
    assert run_sync(syncs["bmi"])["runs"][0]["status"] == "unchanged"


def test_loris_wrong_password_is_connection_failed(steward_api: Any, loris: Conversation) -> None:
    config = {"url": loris.url, "project": "Pumpernickel"}
    secret = {"username": "steward", "password": "wrong"}
    response = steward_api.post(
        "/api/v1/connections", {"name": "loris", "kind": "loris", "config": config, "secret": secret}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "connection_failed"


def test_an_answer_in_an_unexpected_form_is_connection_failed(steward_api: Any, redcap: Conversation) -> None:
    """A service answering JSON of another shape (a proxy, another API, a hostile endpoint) made the sources page
    fail with a 500; it is the connection's failure, said plainly."""
    config = {"url": f"{redcap.url}/api/"}
    created = steward_api.post(
        "/api/v1/connections", {"name": "odd", "kind": "redcap", "config": config, "secret": {"token": REDCAP_TOKEN}}
    )
    assert created.status_code == 201, created.content
    for exchange in redcap.exchanges:
        if exchange.get("form", {}).get("content") == "instrument":
            exchange["response"] = {"status": 200, "body": [1, "two", None]}
    answer = steward_api.get(f"/api/v1/connections/{created.json()['id']}/sources")
    assert answer.status_code == 422, answer.content
    assert answer.json()["error"]["code"] == "connection_failed"
    assert "cannot read" in answer.json()["error"]["message"]


def test_an_answer_is_read_within_a_size(redcap: Conversation) -> None:
    """The connectors read a service's answer within a size (a server sending without end is cut off)."""
    from connectors.core.contract_errors import ConnectorError
    from connectors.core.http_api import request
    from connectors.core.network import NetworkPolicy

    policy = NetworkPolicy.parse(["127.0.0.0/8"])
    form = {"token": REDCAP_TOKEN, "content": "metadata", "format": "json"}
    whole = request(policy, "POST", f"{redcap.url}/api/", timeout=10, data=form)
    assert whole.status_code == 200 and len(whole.content) > 100
    with pytest.raises(ConnectorError) as cut:
        request(policy, "POST", f"{redcap.url}/api/", timeout=10, max_bytes=100, data=form)
    assert cut.value.code == "connection_failed" and "more than" in cut.value.message
