"""Identifying demographics columns: left out of the results of callers without the identifying grant (rows,
exports with their dictionary and summary, reports), never shared through the result cache; and the data
dictionary never shows their example values to such callers."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from access.models import Grant
from queries.authorization import run_visible_columns
from queries.core.spec import spec_canonical, spec_hash
from queries.models import QueryRun
from tests.plugins.studies import tag_identifying

pytestmark = pytest.mark.django_db

SPEC = {
    "filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 20}],
    "columns": {"cognitive": ["score"]},
}


def _csv_header(content: bytes) -> list[str]:
    return next(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_runs_of_a_caller_without_the_identifying_grant_leave_the_column_out(
    gov, analyst_at, grant, execute, tenant_a
) -> None:
    tag_identifying(tenant_a, "gov", "demographics", "name")
    client = analyst_at("export")
    created = client.post("/api/v1/studies/gov/queries", SPEC)
    assert created.status_code == 202, created.content  # no longer refused: the column is left out
    run_id = created.json()["id"]
    assert execute(run_id) == "succeeded"
    run = client.get(f"/api/v1/queries/{run_id}").json()
    assert "name" not in run["columns"] and {"participant_id", "age", "sex", "score"} <= set(run["columns"])

    rows = client.get(f"/api/v1/queries/{run_id}/rows").json()
    assert "name" not in rows["columns"] and rows["total"] == 20
    assert not any(str(cell).startswith("Person ") for item in rows["items"] for cell in item)

    exported = client.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=cohort+check")
    assert exported.status_code == 200
    assert "name" not in _csv_header(b"".join(exported.streaming_content))

    bundle = client.get(f"/api/v1/queries/{run_id}/export?format=zip&purpose=cohort+check")
    assert bundle.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(bundle.streaming_content))) as archive:
        names = archive.namelist()
        data_file = next(
            n
            for n in names
            if n.endswith(".csv") and n not in {"data_dictionary.csv", "filtering_report.csv", "final_summary.csv"}
        )
        assert "name" not in _csv_header(archive.read(data_file))
        dictionary = json.loads(archive.read("data_dictionary.json"))
        summary = json.loads(archive.read("final_summary.json"))
        manifest = json.loads(archive.read("manifest.json"))
        everything = archive.read(data_file).decode()
    assert "name" not in {entry["column"] for entry in dictionary}
    assert "name" not in {entry["column"] for entry in summary}
    assert "name" not in manifest["columns"] and manifest["spec"]["exclude"] == ["name"]
    assert "Person " not in everything

    report = client.get(f"/api/v1/queries/{run_id}/report").json()
    assert "name" not in {item["column"] for item in report["summary"]}
    with tenant_context(tenant_a):
        stored = QueryRun.objects.get(pk=run_id)
        visible = run_visible_columns(actor=client.user, tenant=tenant_a, run=stored)
    connection.set_schema_to_public()
    assert visible == run["columns"]


def test_results_are_not_shared_between_callers_who_may_and_may_not_see_a_column(
    gov, analyst_at, grant, execute, tenant_a
) -> None:
    tag_identifying(tenant_a, "gov", "demographics", "name")
    allowed = analyst_at("export")
    grant(allowed.user, "export", dataset="demographics", identifying=True)
    first = allowed.post("/api/v1/studies/gov/queries", SPEC).json()["id"]
    assert execute(first) == "succeeded"
    assert "name" in allowed.get(f"/api/v1/queries/{first}").json()["columns"]

    other = analyst_at("export")
    second = other.post("/api/v1/studies/gov/queries", SPEC).json()
    # The identical-looking spec is a different query for this caller: nothing reused from the first result.
    with tenant_context(tenant_a):
        a, b = QueryRun.objects.get(pk=first), QueryRun.objects.get(pk=second["id"])
        assert a.cache_key != b.cache_key and b.reused_from_id is None
    connection.set_schema_to_public()
    assert execute(second["id"]) == "succeeded"
    assert "name" not in other.get(f"/api/v1/queries/{second['id']}").json()["columns"]


def test_a_result_carrying_the_column_stops_when_the_identifying_grant_goes(
    gov, analyst_at, grant, execute, tenant_a
) -> None:
    tag_identifying(tenant_a, "gov", "demographics", "name")
    client = analyst_at("export")
    made = grant(client.user, "export", dataset="demographics", identifying=True)
    run_id = client.post("/api/v1/studies/gov/queries", SPEC).json()["id"]
    assert execute(run_id) == "succeeded"
    assert client.get(f"/api/v1/queries/{run_id}/rows").status_code == 200
    with tenant_context(tenant_a):
        Grant.objects.filter(pk=made.pk).update(identifying=False)
    connection.set_schema_to_public()
    for path in (f"/queries/{run_id}/rows", f"/queries/{run_id}/report", f"/queries/{run_id}/export?purpose=a+b+c"):
        refused = client.get(f"/api/v1{path}")
        assert refused.status_code == 403, path
        assert refused.json()["error"]["code"] == "identifying_column"
        assert "Run the query again" in refused.json()["error"]["message"]
    rerun = client.post(f"/api/v1/queries/{run_id}/rerun")
    assert rerun.status_code == 202, rerun.content
    assert execute(rerun.json()["id"]) == "succeeded"
    assert "name" not in client.get(f"/api/v1/queries/{rerun.json()['id']}/rows").json()["columns"]


@pytest.mark.parametrize(
    ("exclude", "code"),
    [(["nope"], "unknown_column"), (["participant_id"], "key_column"), ("name", "invalid_spec")],
)
def test_exclude_bad_input(gov, analyst_at, exclude, code) -> None:
    response = analyst_at("export").post("/api/v1/studies/gov/queries", {**SPEC, "exclude": exclude})
    assert response.status_code in (400, 422)
    assert response.json()["error"]["code"] == code


def test_a_caller_may_exclude_demographics_columns_themselves(gov, analyst_at, execute) -> None:
    client = analyst_at("export")
    run_id = client.post("/api/v1/studies/gov/queries", {**SPEC, "exclude": ["sex"]}).json()["id"]
    assert execute(run_id) == "succeeded"
    columns = client.get(f"/api/v1/queries/{run_id}").json()["columns"]
    assert "sex" not in columns and "name" in columns


def test_dictionary_hides_identifying_values_without_the_grant(gov, analyst_at, grant, steward_api, tenant_a) -> None:
    tag_identifying(tenant_a, "gov", "cognitive", "score")
    client = analyst_at("export")

    def score(caller) -> dict:
        data = caller.get("/api/v1/studies/gov/datasets/cognitive").json()
        return next(c for c in data["latest_version"]["columns"] if c["name"] == "score")

    def dictionary_row(caller) -> dict:
        text = caller.get("/api/v1/studies/gov/datasets/cognitive/dictionary.csv").content.decode("utf-8-sig")
        return next(r for r in csv.DictReader(io.StringIO(text)) if r["column"] == "score")

    hidden = score(client)
    assert hidden["min"] is None and hidden["max"] is None and hidden["mean"] is None and not hidden["top_values"]
    assert hidden["sensitivity"] == "identifying" and hidden["type"] == "integer"  # the column itself is listed
    assert dictionary_row(client)["min"] == "" and dictionary_row(client)["max"] == ""
    listed = client.get("/api/v1/studies/gov/datasets").json()["items"]
    cognitive = next(d for d in listed if d["name"] == "cognitive")
    assert next(c for c in cognitive["latest_version"]["columns"] if c["name"] == "score")["max"] is None
    versions = client.get("/api/v1/studies/gov/datasets/cognitive/versions/1").json()
    assert next(c for c in versions["columns"] if c["name"] == "score")["max"] is None

    assert score(steward_api)["max"] == 60 and dictionary_row(steward_api)["max"] == "60"
    grant(client.user, "query", dataset="cognitive", identifying=True)
    assert score(client)["max"] == 60 and dictionary_row(client)["min"] == "1"


def test_participant_ids_are_not_example_values_below_query(gov, analyst_at, steward_api) -> None:
    counter = analyst_at("count")
    data = counter.get("/api/v1/studies/gov/datasets/demographics").json()
    ids = next(c for c in data["latest_version"]["columns"] if c["name"] == "participant_id")
    assert ids["min"] is None and ids["max"] is None and not ids["top_values"]
    data = steward_api.get("/api/v1/studies/gov/datasets/demographics").json()
    assert next(c for c in data["latest_version"]["columns"] if c["name"] == "participant_id")["min"] == "P001"


def test_wide_results_leave_the_column_out_too(gov, analyst_at, execute, tenant_a) -> None:
    tag_identifying(tenant_a, "gov", "demographics", "name")
    client = analyst_at("query")
    run_id = client.post("/api/v1/studies/gov/queries", {**SPEC, "shape": "wide"}).json()["id"]
    assert execute(run_id) == "succeeded"
    columns = client.get(f"/api/v1/queries/{run_id}/rows").json()["columns"]
    assert "score" in columns and not any(c == "name" or c.startswith("name_") for c in columns)


def test_exclude_counts_in_the_spec_hash_only_when_set() -> None:
    base = {"filters": []}
    assert "exclude" not in spec_canonical(base)
    assert spec_hash(base) == spec_hash({"filters": [], "exclude": []})
    assert spec_hash({"exclude": ["a", "b"]}) == spec_hash({"exclude": ["b", "a"]}) != spec_hash(base)
