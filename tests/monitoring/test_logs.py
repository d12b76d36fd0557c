"""Structured logs: every line of a request carries its request id, tenant and user (JSON under gunicorn)."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest

from core.monitoring.logs import LogContext, LogContextFilter, log_context_reset, log_context_set
from tests.gunicorn_server import LiveServer
from tests.monitoring.conftest import MonWorld
from tests.worker import wait_for


def _lines_with(server: LiveServer, request_id: str) -> list[dict[str, Any]]:
    return [line for line in server.log_lines() if line.get("request_id") == request_id]


def test_access_lines_carry_request_id_tenant_user_and_route(mon_server: LiveServer, mon_world: MonWorld) -> None:
    request_id = f"req-{uuid.uuid4().hex[:16]}"
    status, headers, _ = mon_server.request(
        mon_world.host,
        "GET",
        f"/api/v1/studies/{mon_world.study}",
        headers={"Authorization": f"Bearer {mon_world.token}", "X-Request-ID": request_id},
    )
    assert status == 200 and headers["x-request-id"] == request_id
    line = wait_for(lambda: next(iter(_lines_with(mon_server, request_id)), None), timeout=10)
    assert line["name"] == "bdt.request"
    assert line["tenant"] == "lab-mon"
    assert line["user"] == str(mon_world.user_id)
    assert line["route"] == "api/v1/studies/<study>"
    assert line["status"] == 200 and line["method"] == "GET"
    assert isinstance(line["duration_ms"], int | float)
    assert line["levelname"] == "INFO" and line["asctime"]


def test_an_error_is_logged_with_the_request_it_belongs_to(mon_server: LiveServer, mon_world: MonWorld) -> None:
    """Anonymous requests get the tenant but no user; Django's own failure lines keep the request id."""
    request_id = f"req-{uuid.uuid4().hex[:16]}"
    status, _, body = mon_server.request(mon_world.host, "GET", "/api/v1/studies", headers={"X-Request-ID": request_id})
    assert status == 401 and json.loads(body)["error"]["code"] == "not_authenticated"
    lines = wait_for(lambda: _lines_with(mon_server, request_id), timeout=10)
    assert {line["name"] for line in lines} >= {"bdt.request", "django.request"}
    for line in lines:
        assert line["tenant"] == "lab-mon"
        assert line["user"] == ""


def test_task_context_is_added_to_worker_log_records() -> None:
    record = logging.LogRecord("celery.task", logging.INFO, __file__, 1, "run finished", None, None)
    token = log_context_set(LogContext(task="queries.tasks.query_run_execute_task[abc]", tenant="lab-a"))
    try:
        assert LogContextFilter().filter(record)
    finally:
        log_context_reset(token)
    assert (record.task, record.tenant, record.request_id, record.user) == (  # type: ignore[attr-defined]
        "queries.tasks.query_run_execute_task[abc]", "lab-a", "", "",
    )  # fmt: skip
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "no context", None, None)
    LogContextFilter().filter(outside)
    assert outside.tenant == "" and outside.task == ""  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["json", "plain"])
def test_both_log_formats_render_the_context(fmt: str) -> None:
    from django.conf import settings
    from django.utils.module_loading import import_string

    config = dict(settings.LOGGING["formatters"][fmt])
    factory = config.pop("()", None)
    formatter = import_string(factory)(**config) if factory else logging.Formatter(config["format"])
    record = logging.LogRecord("bdt.request", logging.INFO, __file__, 1, "GET / 200", None, None)
    token = log_context_set(LogContext(request_id="req-0123456789", tenant="lab-a", user="42"))
    try:
        LogContextFilter().filter(record)
    finally:
        log_context_reset(token)
    text = formatter.format(record)
    if fmt == "json":
        assert json.loads(text).items() >= {"request_id": "req-0123456789", "tenant": "lab-a", "user": "42"}.items()
    else:
        assert "[req-0123456789 lab-a 42]" in text
