"""Federated runs: one stacked result in harmonized units whose rows are the union of the per-study results."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.conftest import ApiClient

FILTERS = [{"variable": "age", "op": "between", "value": [30, 60]}, {"variable": "iq", "op": "gte", "value": 95}]
OWN = {  # the same filters written against each study's own columns, by hand
    "alpha": {
        "filters": [
            {"dataset": "demographics", "column": "age_years", "op": "between", "value": [30, 60]},
            {"dataset": "cognitive", "column": "iq", "op": "gte", "value": 95},
        ],
        "columns": {"cognitive": ["iq"]},
    },
    "beta": {
        "filters": [
            {"dataset": "demographics", "column": "age_months", "op": "between", "value": [360, 720]},
            {"dataset": "iq_test", "column": "iq_score", "op": "gte", "value": 95},
        ],
        "columns": {"iq_test": ["iq_score"]},
    },
}


def _finish(client: ApiClient, run_id: int, execute: Callable[[int], str]) -> dict[str, Any]:
    body = client.get(f"/api/v1/federated/queries/{run_id}").json()
    for part in body["parts"]:
        if part["run"] is not None:
            execute(part["run"])
    return client.get(f"/api/v1/federated/queries/{run_id}").json()


def _own_rows(client: ApiClient, slug: str, execute: Callable[[int], str]) -> list[tuple[Any, ...]]:
    """The study's own run of the mapped spec, converted to harmonized units by hand."""
    run_id = client.post(f"/api/v1/studies/{slug}/queries", OWN[slug]).json()["id"]
    assert execute(run_id) == "succeeded"
    page = client.get(f"/api/v1/queries/{run_id}/rows?page_size=1000").json()
    rows = [dict(zip(page["columns"], item, strict=True)) for item in page["items"]]
    if slug == "alpha":
        sexes = {"F": "female", "M": "male"}
        return [
            ("alpha", r["participant_id"], None, float(r["age_years"]), sexes[r["sex"]], float(r["iq"])) for r in rows
        ]
    sexes = {"Female": "female", "Male": "male"}
    return [
        ("beta", r["participant_id"], r["session"], r["age_months"] / 12, sexes[r["gender"]], float(r["iq_score"]))
        for r in rows
    ]


def test_rows_are_the_union_of_per_study_results(variables: ApiClient, execute: Callable[[int], str]) -> None:
    payload = {"studies": ["alpha", "beta"], "filters": FILTERS, "variables": ["age", "sex", "iq"]}
    created = variables.post("/api/v1/federated/queries", payload)
    assert created.status_code == 202, created.content
    body = _finish(variables, created.json()["id"], execute)
    assert body["status"] == "succeeded", body
    assert body["columns"] == ["study", "participant_id", "session", "age", "sex", "iq"]
    page = variables.get(f"/api/v1/federated/queries/{body['id']}/rows?page_size=1000").json()
    stacked = [tuple(row) for row in page["items"]]
    expected = _own_rows(variables, "alpha", execute) + _own_rows(variables, "beta", execute)
    assert len(stacked) == len(expected) == page["total"] == body["row_count"] > 0

    def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return (row[0], row[1], row[2] or "", round(row[3], 9), row[4], row[5])

    assert sorted(map(key, stacked)) == sorted(map(key, expected))
    assert {row[0] for row in stacked} == {"alpha", "beta"}
    assert all(row[2] is None for row in stacked if row[0] == "alpha")  # cross-sectional: no session
    assert [v["name"] for v in body["variables"]] == ["age", "iq", "sex"]
    assert all(v["revision"] == 1 for v in body["variables"])
    beta = next(part for part in body["parts"] if part["study"] == "beta")
    assert {pin["dataset"] for pin in beta["dataset_versions"]} == {"demographics", "iq_test"}


def test_exports_name_every_version_and_definition(variables: ApiClient, execute: Callable[[int], str]) -> None:
    payload = {"studies": ["alpha", "beta"], "filters": FILTERS[:1], "variables": ["sex", "age"]}
    run_id = variables.post("/api/v1/federated/queries", payload).json()["id"]
    body = _finish(variables, run_id, execute)
    # the definitions change after the run: the run keeps the ones it used
    changed = {**variables.get("/api/v1/variables/sex").json(), "label": "Sex at birth"}
    changed.pop("revision")
    assert variables.put("/api/v1/variables/sex", changed).status_code == 200
    assert variables.get(f"/api/v1/federated/queries/{run_id}/export?format=csv").json()["error"]["code"] == (
        "purpose_required"
    )
    csv_response = variables.get(f"/api/v1/federated/queries/{run_id}/export?format=csv&purpose=pooled analysis")
    assert csv_response.status_code == 200
    lines = list(csv.reader(io.StringIO(b"".join(csv_response.streaming_content).decode())))
    assert lines[0] == ["study", "participant_id", "session", "sex", "age"] and len(lines) == body["row_count"] + 1
    parquet = variables.get(f"/api/v1/federated/queries/{run_id}/export?format=parquet&purpose=pooled analysis")
    table = pq.read_table(io.BytesIO(b"".join(parquet.streaming_content)))
    assert table.num_rows == body["row_count"] and table.schema.field("age").type == "double"
    archive = variables.get(f"/api/v1/federated/queries/{run_id}/export?format=zip&purpose=pooled analysis")
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        report = json.loads(bundle.read("filtering_report.json"))
    assert {part["study"] for part in manifest["studies"]} == {"alpha", "beta"}
    for part in manifest["studies"]:
        assert part["dataset_versions"] and all(len(pin["sha256"]) == 64 for pin in part["dataset_versions"])
    sex = next(v for v in manifest["variables"] if v["name"] == "sex")
    assert sex["revision"] == 1 and sex["label"] == "Sex" and len(sex["sources"]) == 2
    assert manifest["purpose"] == "pooled analysis" and manifest["row_count"] == body["row_count"]
    assert {step["study"] for step in report} == {"alpha", "beta"}
    lineage = variables.get(f"/api/v1/federated/queries/{run_id}/lineage").json()
    assert lineage["variables"] == manifest["variables"]


def test_access_is_checked_per_study_at_use(
    variables: ApiClient, api: Callable[..., ApiClient], tenant_a: Any, execute: Callable[[int], str]
) -> None:
    analyst = api(tenant_a, "analyst")
    payload = {"studies": ["alpha", "beta"], "filters": [], "variables": ["age"]}
    run_id = analyst.post("/api/v1/federated/queries", payload).json()["id"]
    assert _finish(analyst, run_id, execute)["status"] == "succeeded"
    assert analyst.get(f"/api/v1/federated/queries/{run_id}/rows").status_code == 200
    # beta drops to the count level for analysts: rows and exports stop at once, the report is protected
    assert variables.post("/api/v1/studies/beta/defaults", {"level": "count"}).status_code == 201
    rows = analyst.get(f"/api/v1/federated/queries/{run_id}/rows")
    assert rows.status_code == 403 and rows.json()["error"]["code"] == "access_level_insufficient"
    export = analyst.get(f"/api/v1/federated/queries/{run_id}/export?format=csv&purpose=a reason")
    assert export.status_code == 403
    report = analyst.get(f"/api/v1/federated/queries/{run_id}/report").json()
    assert report["aggregate_only"] is True and {s["study"] for s in report["steps"]} == {"alpha", "beta"}
    assert analyst.get(f"/api/v1/federated/queries/{run_id}").json()["row_count"] is None
    refused = analyst.post("/api/v1/federated/queries", payload)
    assert refused.status_code == 403
    other = api(tenant_a, "analyst")
    assert other.get(f"/api/v1/federated/queries/{run_id}").status_code == 404


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"studies": ["alpha"], "filters": []}, "invalid_input"),
        ({"studies": ["alpha"], "variables": ["nope"]}, "unknown_variable"),
        ({"studies": ["alpha"], "variables": ["age"], "shape": "wide"}, "invalid_spec"),
    ],
)
def test_bad_run_requests(variables: ApiClient, payload: dict[str, Any], code: str) -> None:
    response = variables.post("/api/v1/federated/queries", payload)
    assert response.status_code == 422 and response.json()["error"]["code"] == code


def test_the_run_endpoints_serve_federated_runs(
    variables: ApiClient, api: Callable[..., ApiClient], tenant_a: Any, execute: Callable[[int], str]
) -> None:
    payload = {"studies": ["alpha", "beta"], "filters": FILTERS[:1], "variables": ["age", "sex"]}
    run_id = variables.post("/api/v1/federated/queries", payload).json()["id"]
    federated = _finish(variables, run_id, execute)
    body = variables.get(f"/api/v1/queries/{run_id}").json()
    assert body["kind"] == "federated" and body["status"] == "succeeded" and body["studies"] == ["alpha", "beta"]
    assert body["columns"] == ["study", "participant_id", "session", "age", "sex"]
    assert body["row_count"] == federated["row_count"]
    assert {pin["dataset"] for pin in body["dataset_versions"]} >= {"alpha/demographics", "beta/demographics"}
    rows = variables.get(f"/api/v1/queries/{run_id}/rows?page_size=1000").json()
    same = variables.get(f"/api/v1/federated/queries/{run_id}/rows?page_size=1000").json()
    assert rows == same and rows["total"] == federated["row_count"]
    report = variables.get(f"/api/v1/queries/{run_id}/report").json()
    assert {step["study"] for step in report["steps"]} == {"alpha", "beta"}
    export = variables.get(f"/api/v1/queries/{run_id}/export?format=zip&purpose=pooled analysis")
    with zipfile.ZipFile(io.BytesIO(b"".join(export.streaming_content))) as bundle:
        assert {part["study"] for part in json.loads(bundle.read("manifest.json"))["studies"]} == {"alpha", "beta"}
    lineage = variables.get(f"/api/v1/queries/{run_id}/lineage").json()
    assert lineage["run"]["id"] == run_id and lineage["run"]["variables"][0]["name"] == "age"
    described = variables.post(f"/api/v1/queries/{run_id}/analysis", {"kind": "describe", "column": "age"})
    assert described.status_code == 200, described.content
    assert described.json()["n"] == federated["row_count"]
    by_study = variables.post(
        f"/api/v1/federated/queries/{run_id}/analysis", {"kind": "anova", "value": "age", "group": "study"}
    ).json()
    assert {group["group"] for group in by_study["groups"]} == {"alpha", "beta"}
    bad = variables.post(f"/api/v1/queries/{run_id}/analysis", {"kind": "describe", "column": "nope"})
    assert bad.status_code == 422
    part_run = body["parts"][0]["run"]  # each study's part is an ordinary run with its own id
    assert part_run != run_id and variables.get(f"/api/v1/queries/{part_run}").json()["study"] == "alpha"
    stranger = api(tenant_a, "analyst")
    assert stranger.get(f"/api/v1/queries/{run_id}").status_code == 404
    assert stranger.get(f"/api/v1/queries/{run_id}/rows").status_code == 404
    assert variables.get("/api/v1/queries/99999999").status_code == 404


def test_identifying_sources_need_the_identifying_grant(
    variables: ApiClient, api: Callable[..., ApiClient], tenant_a: Any
) -> None:
    from tests.plugins.studies import tag_identifying

    tag_identifying(tenant_a, "alpha", "demographics", "sex")
    analyst = api(tenant_a, "analyst")
    refused = analyst.post("/api/v1/federated/queries", {"studies": ["alpha", "beta"], "variables": ["sex"]})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "identifying_column"
    counted = analyst.post(
        "/api/v1/federated/count",
        {"studies": ["alpha", "beta"], "filters": [{"variable": "sex", "op": "eq", "value": "female"}]},
    )
    assert counted.status_code == 403 and counted.json()["error"]["code"] == "identifying_column"
    allowed = analyst.post("/api/v1/federated/queries", {"studies": ["alpha", "beta"], "variables": ["age"]})
    assert allowed.status_code == 202
