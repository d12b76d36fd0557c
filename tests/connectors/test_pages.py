"""Console pages: a steward creates a connection with the form, tests it, picks a source, runs the sync and reads
the run history; secrets never appear on a page; analysts are turned away."""

from __future__ import annotations

from typing import Any

from django.db import connection as db_connection
from django_tenants.utils import tenant_context

from connectors.models import SyncRun
from connectors.runs import sync_run_execute


def test_a_steward_connects_picks_a_source_and_follows_the_runs(
    page_client: Any, make_study: Any, source_pg: dict[str, Any], tenant_a: Any
) -> None:
    browser = page_client(tenant_a, "steward")
    make_study("page-study")
    form = browser.get("/console/connections/?kind=postgresql")
    assert form.status_code == 200 and b"Test and save" in form.content and b'name="secret-password"' in form.content
    config = source_pg["config"]
    posted = {"kind": "postgresql", "name": "clinic db", **{f"config-{k}": v for k, v in config.items()},
              "secret-password": source_pg["secret"]["password"]}  # fmt: skip
    created = browser.post("/console/connections/new/", posted, follow=True)
    assert created.status_code == 200
    page = created.content.decode()
    assert "Connection tested and saved." in page and "clinic db" in page and "TLS lowered" in page
    assert source_pg["secret"]["password"] not in page
    connection_id = created.redirect_chain[-1][0].rstrip("/").split("/")[-1]

    tested = browser.post(f"/console/connections/{connection_id}/test/", headers={"HX-Request": "true"})
    assert b'data-test-result="ok"' in tested.content
    picker = browser.get(f"/console/connections/{connection_id}/?sources=1").content.decode()
    assert "data-source-picker" in picker and "memory_scores (table)" in picker and "adults (view)" in picker
    made = browser.post(
        f"/console/connections/{connection_id}/syncs/new/",
        {"source": "demographics", "study": "page-study", "dataset": "demographics", "kind": "demographics",
         "schedule": ""},
        follow=True,
    )  # fmt: skip
    assert "Sync created." in made.content.decode()
    sync_id = made.redirect_chain[-1][0].rstrip("/").split("/")[-1]
    started = browser.post(f"/console/syncs/{sync_id}/run/", follow=True).content.decode()
    assert "Sync started" in started and 'data-run-status="queued"' in started
    with tenant_context(tenant_a):
        sync_run_execute(SyncRun.objects.get(sync_id=sync_id).pk)
    db_connection.set_schema_to_public()
    history = browser.get(f"/console/syncs/{sync_id}/").content.decode()
    assert 'data-run-status="succeeded"' in history and "v1" in history
    listing = browser.get("/console/syncs/").content.decode()
    assert "page-study / demographics" in listing


def test_a_failing_form_keeps_nothing_and_says_why(page_client: Any, source_pg: dict[str, Any], tenant_a: Any) -> None:
    browser = page_client(tenant_a, "owner")
    posted = {"kind": "postgresql", "name": "wrong", **{f"config-{k}": v for k, v in source_pg["config"].items()}}
    posted["config-user"] = "nobody_here"
    page = browser.post("/console/connections/new/", posted, follow=True).content.decode()
    assert "refused the user name or password" in page or "does not exist" in page
    assert "No connections yet." in page


def test_analysts_are_turned_away(page_client: Any, tenant_a: Any) -> None:
    browser = page_client(tenant_a, "analyst")
    assert browser.get("/console/connections/").status_code == 403
    assert browser.get("/console/syncs/").status_code == 403
    assert browser.post("/console/connections/new/", {"kind": "postgresql"}).status_code == 403
