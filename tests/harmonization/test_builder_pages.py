"""The builder across studies: live total and per-study breakdown, run, the run's page with rows and exports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.test import Client

from tests.conftest import ApiClient


def test_builder_counts_runs_and_shows_the_result(
    variables: ApiClient, page_client: Callable[..., Client], tenant_a: Any, execute: Callable[[int], str]
) -> None:
    browser = page_client(tenant_a, "analyst")
    page = browser.get("/federated/")
    assert page.status_code == 200
    assert b'data-study="alpha"' in page.content and b'data-study="beta"' in page.content
    assert b'value="age"' in page.content
    form = {"studies": ["alpha", "beta"], "variable_0": "age", "op_0": "between", "value_0": "60, 70"}
    fragment = browser.post("/federated/count/", form, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    expected = variables.post(
        "/api/v1/federated/count",
        {"studies": ["alpha", "beta"], "filters": [{"variable": "age", "op": "between", "value": [60, 70]}]},
    ).json()
    assert f"data-federated-total>{expected['participants']}<".encode() in fragment.content
    assert b'data-study-count="beta"' in fragment.content
    bad = browser.post("/federated/count/", {**form, "value_0": "sixty"}, headers={"HX-Request": "true"})
    assert b'data-count-error="invalid_value"' in bad.content
    started = browser.post("/federated/run/", {**form, "outputs": ["age", "sex"]})
    assert started.status_code == 302
    run_page = started["Location"]
    run_id = int(run_page.rstrip("/").rsplit("/", 1)[1])
    assert b'data-run-status="queued"' in browser.get(run_page).content
    for part in variables.get(f"/api/v1/queries/{run_id}").json()["parts"]:
        execute(part["run"])
    done = browser.get(run_page)
    assert b'data-run-status="succeeded"' in done.content
    assert b"data-preview-rows=" in done.content and b"/api/v1/queries/%d/export" % run_id in done.content
    export = browser.get(f"/api/v1/queries/{run_id}/export", {"format": "csv", "purpose": "pooled look"})
    assert export.status_code == 200


def test_viewers_and_strangers_are_kept_out(
    variables: ApiClient, page_client: Callable[..., Client], tenant_a: Any
) -> None:
    assert page_client(tenant_a, "viewer").get("/federated/").status_code == 403
    assert Client(HTTP_HOST="lab-a.test").get("/federated/").status_code in {302, 404}
    analyst = page_client(tenant_a, "analyst")
    strict = Client(HTTP_HOST="lab-a.test", enforce_csrf_checks=True)
    strict.force_login(analyst.user)  # type: ignore[attr-defined]
    assert strict.post("/federated/count/", {"studies": ["alpha"]}).status_code == 403  # no CSRF token
    assert strict.post("/federated/run/", {"studies": ["alpha"], "outputs": ["age"]}).status_code == 403
