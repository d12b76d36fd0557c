"""Deleting a dataset never widens access: a run that read it is checked against the deleted dataset's own grants
and identifying columns (rows, report, export, rerun), and runs that do not touch it behave as before."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from access.models import Grant
from access.services import grant_revoke
from tests.plugins.studies import tag_identifying

pytestmark = pytest.mark.django_db

SPEC = {"columns": {"cognitive": ["score"]}}
DEMOGRAPHICS_ONLY = {"filters": [{"dataset": "demographics", "column": "age", "op": "gte", "value": 0}]}
EXPORT = "export?format=csv&purpose=Paper%20figure%202"


def _run(client: Any, execute: Any, spec: dict[str, Any]) -> int:
    response = client.post("/api/v1/studies/gov/queries", spec)
    assert response.status_code == 202, response.content
    run_id = int(response.json()["id"])
    assert execute(run_id) == "succeeded"
    return run_id


def _revoke(tenant: Any, steward: Any, grant: Any) -> None:
    with tenant_context(tenant):
        grant_revoke(tenant=tenant, actor=steward.user, grant=Grant.objects.get(pk=grant.pk))
    connection.set_schema_to_public()


def _delete_cognitive(steward: Any) -> None:
    deleted = steward.delete("/api/v1/studies/gov/datasets/cognitive")
    assert deleted.status_code == 200, deleted.content
    assert deleted.json()["files_kept_for_versions"] == [1]  # a run read it: its files stay


def _code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def test_a_revoked_grant_stays_revoked_after_the_dataset_is_deleted(
    gov, analyst_at, grant, execute, tenant_a, steward_api
) -> None:
    analyst = analyst_at("metadata")
    grant(analyst.user, "export", dataset="demographics")
    on_cognitive = grant(analyst.user, "export", dataset="cognitive")
    run_id = _run(analyst, execute, SPEC)
    untouched = _run(analyst, execute, DEMOGRAPHICS_ONLY)
    _revoke(tenant_a, steward_api, on_cognitive)
    assert analyst.get(f"/api/v1/queries/{run_id}/rows").status_code == 403

    _delete_cognitive(steward_api)

    rows = analyst.get(f"/api/v1/queries/{run_id}/rows")
    assert rows.status_code == 403 and _code(rows) == "access_level_insufficient", rows.content
    assert rows.json()["error"]["details"]["datasets"] == [{"dataset": "cognitive", "level": "metadata"}]
    export = analyst.get(f"/api/v1/queries/{run_id}/{EXPORT}")
    assert export.status_code == 403 and _code(export) == "access_level_insufficient"
    report = analyst.get(f"/api/v1/queries/{run_id}/report")
    assert report.status_code == 403 and _code(report) == "access_level_insufficient"
    rerun = analyst.post(f"/api/v1/queries/{run_id}/rerun")
    assert rerun.status_code == 403 and _code(rerun) == "access_level_insufficient"

    # The run that never touched the deleted dataset is unchanged.
    assert analyst.get(f"/api/v1/queries/{untouched}/rows").status_code == 200
    assert analyst.get(f"/api/v1/queries/{untouched}/{EXPORT}").status_code == 200
    assert analyst.get(f"/api/v1/queries/{untouched}/report").status_code == 200


def test_a_member_still_granted_the_deleted_dataset_keeps_reading_runs_of_it(
    gov, analyst_at, grant, execute, tenant_a, steward_api
) -> None:
    analyst = analyst_at("metadata")
    grant(analyst.user, "export", dataset="demographics")
    grant(analyst.user, "export", dataset="cognitive")
    run_id = _run(analyst, execute, SPEC)

    _delete_cognitive(steward_api)

    rows = analyst.get(f"/api/v1/queries/{run_id}/rows")
    assert rows.status_code == 200 and "score" in rows.json()["columns"], rows.content
    assert analyst.get(f"/api/v1/queries/{run_id}/{EXPORT}").status_code == 200
    assert analyst.get(f"/api/v1/queries/{run_id}/report").status_code == 200
    rerun = analyst.post(f"/api/v1/queries/{run_id}/rerun")
    assert rerun.status_code == 202, rerun.content


def test_the_identifying_column_rule_holds_for_a_deleted_dataset(
    gov, analyst_at, grant, execute, tenant_a, steward_api
) -> None:
    analyst = analyst_at("metadata")
    grant(analyst.user, "export", dataset="demographics")
    grant(analyst.user, "export", dataset="cognitive")
    run_id = _run(analyst, execute, SPEC)
    tag_identifying(tenant_a, "gov", "cognitive", "score")  # tagged after the run: its result carries the column
    assert _code(analyst.get(f"/api/v1/queries/{run_id}/rows")) == "identifying_column"

    _delete_cognitive(steward_api)

    rows = analyst.get(f"/api/v1/queries/{run_id}/rows")
    assert rows.status_code == 403 and _code(rows) == "identifying_column", rows.content
    assert rows.json()["error"]["details"]["columns"] == [{"dataset": "cognitive", "column": "score"}]
    export = analyst.get(f"/api/v1/queries/{run_id}/{EXPORT}")
    assert export.status_code == 403 and _code(export) == "identifying_column"
    rerun = analyst.post(f"/api/v1/queries/{run_id}/rerun")
    assert rerun.status_code == 403 and _code(rerun) == "identifying_column"


def test_a_study_whose_every_dataset_was_deleted_still_checks_the_demographics_its_runs_read(
    gov, analyst_at, grant, execute, tenant_a, steward_api
) -> None:
    analyst = analyst_at("metadata")
    on_demographics = grant(analyst.user, "export", dataset="demographics")
    run_id = _run(analyst, execute, {"filters": []})  # the demographics table only, named by no filter or column
    kept = analyst_at("metadata")
    grant(kept.user, "export", dataset="demographics")  # still granted, but not the identifying grant
    carrying = _run(kept, execute, {"filters": []})
    tag_identifying(tenant_a, "gov", "demographics", "name")  # tagged after the run: its result carries it
    _revoke(tenant_a, steward_api, on_demographics)
    for name in ("cognitive", "demographics"):  # the demographics table goes last
        assert steward_api.delete(f"/api/v1/studies/gov/datasets/{name}").status_code == 200

    rows = analyst.get(f"/api/v1/queries/{run_id}/rows")
    assert rows.status_code == 403 and _code(rows) == "access_level_insufficient", rows.content
    assert rows.json()["error"]["details"]["datasets"] == [{"dataset": "demographics", "level": "metadata"}]
    export = analyst.get(f"/api/v1/queries/{run_id}/{EXPORT}")
    assert export.status_code == 403 and _code(export) == "access_level_insufficient"
    assert steward_api.get(f"/api/v1/queries/{run_id}/rows").status_code == 200  # a steward still reads it
    identifying = kept.get(f"/api/v1/queries/{carrying}/rows")
    assert identifying.status_code == 403 and _code(identifying) == "identifying_column", identifying.content
