"""Steward views of the audit trail: filters (actor, action, study, dataset, time), CSV, user activity, history."""

from __future__ import annotations

import csv
import io

import pytest
from django_tenants.utils import tenant_context

from audit.services import audit_event_record

pytestmark = pytest.mark.django_db


def _run(client, execute, spec) -> int:
    accepted = client.post("/api/v1/studies/memory/queries", spec)
    assert accepted.status_code == 202, accepted.content
    execute(accepted.json()["id"])
    return accepted.json()["id"]


def test_api_filters_by_study_and_dataset(steward_api, study_ro, execute, tenant_a) -> None:
    flanker_run = _run(steward_api, execute, {"columns": {"flanker": ["accuracy"]}})
    cognitive_run = _run(steward_api, execute, {"columns": {"cognitive": ["working_memory"]}})
    steward_api.post("/api/v1/studies/memory/count", {})

    by_dataset = steward_api.get("/api/v1/audit?dataset=flanker&page_size=1000").json()["items"]
    run_targets = {int(e["target"]["id"]) for e in by_dataset if e["target"]["type"] == "queries.queryrun"}
    assert flanker_run in run_targets and cognitive_run not in run_targets
    assert any(e["action"] == "dataset_version.created" for e in by_dataset)
    assert all(e["details"].get("dataset") in (None, "flanker") for e in by_dataset)

    by_study = steward_api.get("/api/v1/audit?study=memory&action=query.&page_size=1000").json()["items"]
    actions = {e["action"] for e in by_study}
    assert {"query.count", "query.run_created", "query.run_succeeded"} <= actions
    assert steward_api.get("/api/v1/audit?study=nope").json()["total"] == 0
    scoped = steward_api.get("/api/v1/audit?study=memory&dataset=cognitive&page_size=1000").json()["items"]
    assert cognitive_run in {int(e["target"]["id"]) for e in scoped if e["target"]["type"] == "queries.queryrun"}

    bad = steward_api.get("/api/v1/audit?since=yesterday")
    assert bad.status_code == 422 and bad.json()["error"]["code"]


def test_csv_export_is_formula_safe_and_audited(steward_api, api, tenant_a, events) -> None:
    with tenant_context(tenant_a):
        audit_event_record(action="test.csv", target_repr='=HYPERLINK("http://x")', details={"note": "+1"})
    response = steward_api.get("/api/v1/audit/export.csv?action=test.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1 and rows[0]["action"] == "test.csv"
    assert rows[0]["target"] == '\'=HYPERLINK("http://x")'  # neutralized, never a live formula
    assert rows[0]["details"] == '{"note": "+1"}' and len(rows[0]["hash"]) == 64
    read = events("audit.read")[-1]
    assert read.details == {"view": "csv", "filters": {**dict.fromkeys(read.details["filters"]), "action": "test.csv"}}
    assert api(tenant_a, "analyst").get("/api/v1/audit/export.csv").status_code == 403


def test_audit_page_filters_paginates_and_links_to_user_activity(browser, steward_api, study_ro, tenant_a) -> None:
    steward = browser("steward")
    with tenant_context(tenant_a):
        for n in range(55):
            audit_event_record(action="test.page", actor=steward.user, details={"n": n})
    page = steward.get("/audit/?action=test.page").content.decode()
    assert "55 events" in page and page.count('data-action="test.page"') == 50 and "Page 1 of 2" in page
    second = steward.get("/audit/?action=test.page&page=2").content.decode()
    assert second.count('data-action="test.page"') == 5
    assert f'href="/audit/users/{steward.user.pk}/"' in page
    dated = steward.get("/audit/?action=test.page&since=2000-01-01&until=2000-01-02").content.decode()
    assert "No events match these filters." in dated
    invalid = steward.get("/audit/?since=soon")
    assert invalid.status_code == 422 and "From must be a date (YYYY-MM-DD)" in invalid.content.decode()
    by_study = steward.get("/audit/?study=memory&dataset=demographics").content.decode()
    assert 'data-action="dataset_version.created"' in by_study
    csv_link = steward.get("/audit/export.csv?action=test.page")
    assert csv_link.status_code == 200 and b"".join(csv_link.streaming_content).decode().count("test.page") == 55

    activity = steward.get(f"/audit/users/{steward.user.pk}/").content.decode()
    assert f"Activity of {steward.user.email}" in activity and "<code>test.page</code>" in activity
    assert steward.get("/audit/users/999999/").status_code == 404
    assert browser("analyst").get("/audit/").status_code == 403
    assert browser("analyst").get(f"/audit/users/{steward.user.pk}/").status_code == 403


def test_history_shows_readable_diffs_of_configuration(browser, steward_api, api, study, tenant_a) -> None:
    steward_api.patch("/api/v1/studies/memory", {"description": "Second wave", "suppression_threshold": 15})
    owner = api(tenant_a, "owner")
    assert owner.patch("/api/v1/settings", {"disclosure_max_noise": 4}).status_code == 200
    refused = owner.patch("/api/v1/settings", {"duckdb_memory_limit": "1GB"})
    assert refused.status_code == 422 and "cannot be set per tenant" in refused.json()["error"]["message"]
    assert steward_api.patch("/api/v1/settings", {"disclosure_max_noise": 2}).status_code == 403
    steward = browser("steward")
    page = steward.get("/audit/history/").content.decode()
    assert "changed study <code>memory</code>" in page and "Second wave" in page
    assert "changed settings" in page and "disclosure_max_noise" in page
    assert "created membership" in page and steward.user.email in page
    only_studies = steward.get("/audit/history/?kind=study").content.decode()
    assert 'data-kind="membership"' not in only_studies and 'data-kind="study"' in only_studies
    assert steward.get("/audit/history/?kind=nope").status_code == 422
