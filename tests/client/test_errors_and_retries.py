"""Errors carry the platform's code, message and details; 429s from the real throttle are retried as told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bdt_client import (
    AuthenticationFailed,
    Client,
    ConfigurationError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    RetryEvent,
    RetryPolicy,
    TransportError,
)
from bdt_client.transport import retry_after_seconds, retry_wait
from tests.client.conftest import Cohort, tenant_settings


def test_error_answers_become_exceptions_with_code_message_and_details(
    connect: Any, workspace_url: str, cohort: Cohort
) -> None:
    analyst = connect("analyst")
    with pytest.raises(NotFound) as missing:
        analyst.studies.get("no-such-study")
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    assert missing.value.request_id and missing.value.path == "/studies/no-such-study"

    bad_column = {"filters": [{"dataset": "demographics", "column": "shoe_size", "op": "gt", "value": 1}]}
    with pytest.raises(InvalidInput) as invalid:
        analyst.count(cohort.slug, bad_column)
    assert (invalid.value.status, invalid.value.code) == (422, "unknown_column")
    assert "shoe_size" in invalid.value.message

    with pytest.raises(PermissionDenied) as viewer:
        connect("viewer").count(cohort.slug, {})
    assert viewer.value.status == 403 and viewer.value.code

    with Client(workspace_url, "bdt_not-a-real-token") as stranger, pytest.raises(AuthenticationFailed) as anonymous:
        stranger.me()
    assert (anonymous.value.status, anonymous.value.code) == (401, "not_authenticated")
    assert "token" in str(anonymous.value)


def test_invalid_request_bodies_name_the_fields(connect: Any) -> None:
    steward = connect("steward")
    with pytest.raises(InvalidInput) as invalid:
        steward.studies.create("", "No slug", id_column="participant_id", engine="bigquery")  # type: ignore[arg-type]
    assert invalid.value.code == "invalid_input"
    assert any("engine" in error["loc"] for error in invalid.value.details["errors"])


def test_unreachable_platform_and_missing_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    nobody = Client("http://127.0.0.1:9", "bdt_x", retry=RetryPolicy(max_retries=1, backoff=0.01))
    with nobody, pytest.raises(TransportError, match=r"Cannot reach http://127\.0\.0\.1:9"):
        nobody.me()
    for name in ("BDT_URL", "BDT_TOKEN", "BDT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BDT_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigurationError, match="bdt login"):
        Client()


def test_rate_limited_requests_wait_as_long_as_the_platform_says_then_succeed(
    connect: Any, client_tenant: Any, django_db_blocker: Any
) -> None:
    retries: list[RetryEvent] = []
    client = connect("analyst", on_retry=retries.append, retry=RetryPolicy(max_retries=5, max_wait=5.0))
    with tenant_settings(client_tenant, django_db_blocker, api_rate_limit="2/s"):
        answers = [client.me() for _ in range(8)]  # 8 requests at 2 per second: the throttle must step in
    assert all(me.user.email == client.member.email for me in answers)  # type: ignore[attr-defined]
    assert retries, "the throttle never answered 429"
    assert {(event.status, event.code) for event in retries} == {(429, "rate_limited")}
    assert all(event.wait == 1.0 for event in retries)  # Retry-After: 1, as the platform computed it


def test_rate_limited_requests_raise_when_retries_are_off_or_the_wait_is_too_long(
    connect: Any, client_tenant: Any, django_db_blocker: Any
) -> None:
    member = connect("analyst").member
    patient = connect(member=member, retry=RetryPolicy(max_retries=0))
    hasty = connect(member=member, retry=RetryPolicy(max_retries=5, max_wait=5.0))
    with tenant_settings(client_tenant, django_db_blocker, api_rate_limit="1/m"):
        patient.me()
        with pytest.raises(RateLimited) as limited:
            patient.me()
        assert limited.value.code == "rate_limited" and limited.value.retry_after is not None
        assert 1 <= limited.value.retry_after <= 60
        retries: list[RetryEvent] = []
        hasty._transport.on_retry = retries.append
        with pytest.raises(RateLimited):  # asked to wait ~a minute, longer than max_wait: raised at once
            hasty.me()
        assert retries == []


@pytest.mark.parametrize(
    ("method", "idempotent", "status", "code", "retry_after", "retried"),
    [
        ("POST", False, 429, "rate_limited", 2.0, True),  # refused before any work: any method
        ("POST", False, 503, "busy", None, True),  # the platform says nothing was saved
        ("POST", False, 503, "service_unavailable", None, False),  # maybe saved: never re-send a write
        ("POST", True, 503, "service_unavailable", None, True),  # a read-only POST (count)
        ("GET", None, 502, "http_502", None, True),
        ("DELETE", None, 504, "http_504", None, True),
        ("GET", None, 500, "internal_error", None, False),
        ("GET", None, 409, "conflict", None, False),
        ("GET", None, 429, "rate_limited", 120.0, False),  # longer than max_wait
    ],
)
def test_which_answers_are_retried(
    method: str, idempotent: bool | None, status: int, code: str, retry_after: float | None, retried: bool
) -> None:
    policy = RetryPolicy(max_retries=3, max_wait=60.0, backoff=0.5)
    wait = retry_wait(
        policy, attempt=1, method=method, idempotent=idempotent, status=status, code=code, retry_after=retry_after
    )
    assert (wait is not None) == retried
    if retried and retry_after is not None:
        assert wait == retry_after
    exhausted = retry_wait(
        policy, attempt=4, method=method, idempotent=idempotent, status=status, code=code, retry_after=retry_after
    )
    assert exhausted is None  # bounded


def test_backoff_grows_and_is_capped_without_retry_after() -> None:
    policy = RetryPolicy(max_retries=10, max_wait=3.0, backoff=0.5)
    waits = [
        retry_wait(policy, attempt=n, method="GET", idempotent=None, status=503, code="x", retry_after=None)
        for n in range(1, 7)
    ]
    assert all(w is not None for w in waits)
    assert waits[0] is not None and 0.5 <= waits[0] <= 0.625
    assert waits[-1] == 3.0 and waits == sorted(w for w in waits if w is not None)


def test_retry_after_as_seconds_or_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds((now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT"), now=now) == 30.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0  # in the past: at once
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
