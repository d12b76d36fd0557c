"""A spec's ``columns`` key order is the output column order: it survives storage, reruns and saved queries."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.core.cache import cache
from django_tenants.utils import tenant_context

from queries.core.spec import spec_hash
from queries.models import QueryRun, SavedQuery

pytestmark = pytest.mark.django_db

# "cognitive" before "flanker": PostgreSQL jsonb would store the shorter key ("flanker") first.
PICKS = {"cognitive": ["working_memory", "note"], "flanker": ["accuracy"]}
REVERSED = {"flanker": ["accuracy"], "cognitive": ["note", "working_memory"]}


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def _picked(columns: list[str]) -> list[str]:
    return [c for c in columns if c in {"working_memory", "note", "accuracy"}]


def _expected(picks: dict[str, list[str]]) -> list[str]:
    return [column for columns in picks.values() for column in columns]


@pytest.mark.parametrize("picks", [PICKS, REVERSED], ids=["cognitive-first", "flanker-first"])
def test_run_outputs_columns_in_pick_order(steward_api: Any, study_ro: str, execute: Any, picks: Any) -> None:
    run_id = steward_api.post("/api/v1/studies/memory/queries", {"columns": picks}).json()["id"]
    assert execute(run_id) == "succeeded"
    run = steward_api.get(f"/api/v1/queries/{run_id}").json()
    assert list(run["spec"]["columns"]) == list(picks)  # the API returns the submitted order
    assert _picked(run["columns"]) == _expected(picks)
    rows = steward_api.get(f"/api/v1/queries/{run_id}/rows?page_size=100").json()
    assert _picked(rows["columns"]) == _expected(picks)
    first = dict(zip(rows["columns"], rows["items"][0], strict=True))
    assert (first["participant_id"], first["session"]) == ("001", "BAS1")
    position = {name: i for i, name in enumerate(rows["columns"])}
    assert rows["items"][0][position["working_memory"]] == 101.5 and rows["items"][0][position["accuracy"]] == 0.55
    export = steward_api.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=order+check")
    assert export.status_code == 200
    header = next(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert _picked(header) == _expected(picks)


def test_stored_spec_hashes_to_the_run_hash(steward_api: Any, study_ro: str, tenant_a: Any) -> None:
    run_id = steward_api.post("/api/v1/studies/memory/queries", {"columns": PICKS, "sessions": ["BAS1"]}).json()["id"]
    with tenant_context(tenant_a):
        run = QueryRun.objects.get(pk=run_id)
        assert list(run.spec["columns"]) == ["cognitive", "flanker"]
        assert spec_hash(run.spec) == run.spec_hash


def test_reversed_picks_are_a_different_query(steward_api: Any, study_ro: str) -> None:
    first = steward_api.post("/api/v1/studies/memory/queries", {"columns": PICKS}).json()["id"]
    second = steward_api.post("/api/v1/studies/memory/queries", {"columns": REVERSED}).json()["id"]
    assert first != second  # a different column order is a different result, never a reused one


def test_rerun_keeps_the_pick_order(steward_api: Any, study_ro: str, execute: Any) -> None:
    run_id = steward_api.post("/api/v1/studies/memory/queries", {"columns": PICKS}).json()["id"]
    execute(run_id)
    again = steward_api.post(f"/api/v1/queries/{run_id}/rerun").json()["id"]
    assert execute(again) == "succeeded"
    original = steward_api.get(f"/api/v1/queries/{run_id}").json()
    rerun = steward_api.get(f"/api/v1/queries/{again}").json()
    assert _picked(rerun["columns"]) == _expected(PICKS)
    assert rerun["spec_hash"] == original["spec_hash"]
    assert list(rerun["spec"]["columns"]) == list(PICKS)
    assert rerun["result_sha256"] == original["result_sha256"]


def test_saved_query_keeps_the_pick_order(steward_api: Any, study_ro: str, tenant_a: Any) -> None:
    created = steward_api.post("/api/v1/studies/memory/saved-queries", {"name": "Order", "spec": {"columns": PICKS}})
    assert created.status_code == 201, created.content
    saved_id = created.json()["id"]
    assert list(steward_api.get(f"/api/v1/saved-queries/{saved_id}").json()["spec"]["columns"]) == list(PICKS)
    updated = steward_api.put(f"/api/v1/saved-queries/{saved_id}", {"name": "Order", "spec": {"columns": REVERSED}})
    assert updated.status_code == 200
    assert list(steward_api.get(f"/api/v1/saved-queries/{saved_id}").json()["spec"]["columns"]) == list(REVERSED)
    with tenant_context(tenant_a):
        assert list(SavedQuery.objects.get(pk=saved_id).spec["columns"]["cognitive"]) == ["note", "working_memory"]
