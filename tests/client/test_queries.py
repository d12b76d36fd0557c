"""The client runs cohorts like the API does: counts, runs with a real worker, rows as tables, exports, lineage."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import zipfile
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bdt_client import Client, RunCancelled, WaitTimeout
from bdt_client.errors import Conflict, InvalidInput
from tests.client.conftest import COHORT_SPEC, Cohort, Member, queued_run_create
from tests.live_server import LiveServer

pytestmark = pytest.mark.worker


def _plain(value: Any) -> Any:
    """A table value as the API's JSON carries it (dates as ISO text)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class RawApi:
    """The HTTP API spoken directly (no bdt_client code), to compare the client's answers with."""

    def __init__(self, live: LiveServer, host: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{live.port}/api/v1",
            headers={"Host": f"{host}:{live.port}", "Authorization": f"Bearer {token}"},
            timeout=60,
        )

    def run_rows(self, study: str, spec: dict[str, Any]) -> tuple[dict[str, Any], list[list[Any]]]:
        accepted = self.http.post(f"/studies/{study}/queries", json=spec)
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["id"]
        deadline = time.monotonic() + 120
        while True:
            run = self.http.get(f"/queries/{run_id}").json()
            if run["status"] in {"succeeded", "failed", "cancelled"} or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert run["status"] == "succeeded", run
        rows: list[list[Any]] = []
        page = 1
        while len(rows) < run["row_count"]:
            rows += self.http.get(f"/queries/{run_id}/rows", params={"page": page, "page_size": 7}).json()["items"]
            page += 1
        return run, rows


@pytest.fixture
def analyst(connect: Any) -> Client:
    return connect("analyst")


def test_the_client_runs_the_same_cohort_as_the_api_and_gets_the_same_rows(
    celery_worker: Any, analyst: Client, cohort: Cohort, live: LiveServer
) -> None:
    count = analyst.count(cohort.slug, COHORT_SPEC)
    expected = cohort.expected_keys
    assert (count.participants, count.rows) == (len({pid for pid, _ in expected}), len(expected))
    assert count.suppressed is False

    run = analyst.run(cohort.slug, COHORT_SPEC)  # submitted, then polled by the real worker's progress
    assert run.status == "succeeded" and run.row_count == len(expected)
    assert {pin.dataset for pin in run.dataset_versions} == {"demographics", "memory"}

    table = run.to_arrow()
    assert table.column_names == run.columns
    assert table.schema.field("age").type == pa.int64()
    assert table.schema.field("score").type == pa.float64()
    assert table.schema.field("visit_date").type == pa.date32()
    records = table.to_pylist()
    assert {(r["participant_id"], r["session"]) for r in records} == expected
    assert all(30 <= r["age"] <= 60 and r["score"] >= 40 for r in records)

    member: Member = analyst.member  # type: ignore[attr-defined]
    raw = RawApi(live, "lab-client.localhost", member.token)
    with raw.http:
        api_run, api_rows = raw.run_rows(cohort.slug, COHORT_SPEC)
    assert api_run["columns"] == run.columns
    assert [[_plain(value) for value in record.values()] for record in records] == api_rows

    frame = run.to_pandas()
    assert list(frame.columns) == run.columns and len(frame) == len(expected)
    assert str(frame["age"].dtype) == "Int64"
    assert frame["visit_date"].map(_plain).tolist() == [row[run.columns.index("visit_date")] for row in api_rows]


def test_rows_page_by_page_and_sorted(celery_worker: Any, analyst: Client, cohort: Cohort) -> None:
    run = analyst.run(cohort.slug, COHORT_SPEC)
    first = run.rows(page=1, page_size=5, sort="score", order="desc")
    assert first.total == run.row_count and len(first.items) == 5
    scores = [row[first.columns.index("score")] for row in first.items]
    assert scores == sorted(scores, reverse=True)
    assert len(list(analyst.queries.iter_rows(run.id, page_size=3))) == run.row_count


def test_exports_are_streamed_to_files_checked_and_recorded_with_their_purpose(
    celery_worker: Any, analyst: Client, cohort: Cohort, tmp_path: Any
) -> None:
    run = analyst.run(cohort.slug, COHORT_SPEC)
    parquet = run.export(tmp_path / "cohort.parquet", purpose="client test: parquet")
    assert parquet.sha256 == hashlib.sha256(parquet.path.read_bytes()).hexdigest()
    assert pq.read_table(parquet.path).to_pylist() == run.to_arrow().to_pylist()

    csv_file = analyst.queries.export(run.id, tmp_path / "cohort.csv", purpose="client test: csv")
    lines = csv_file.path.read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",")[:2] == ["participant_id", "session"] and len(lines) == run.row_count + 1

    bundle = run.export(tmp_path / "cohort.zip", purpose="client test: zip bundle")
    with zipfile.ZipFile(bundle.path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["purpose"] == "client test: zip bundle" and manifest["row_count"] == run.row_count

    lineage = run.lineage()
    assert lineage.run.id == run.id
    assert {(e.format, e.purpose) for e in lineage.exports} >= {
        ("parquet", "client test: parquet"),
        ("csv", "client test: csv"),
        ("zip", "client test: zip bundle"),
    }
    assert {e.sha256 for e in lineage.exports} >= {parquet.sha256, csv_file.sha256, bundle.sha256}

    with pytest.raises(InvalidInput) as refused:  # the platform asks for a purpose: nothing is written
        run.export(tmp_path / "nothing.csv", purpose="")
    assert refused.value.code == "purpose_required"
    assert not list(tmp_path.glob("*nothing*"))

    big = run.to_arrow(purpose="client test: table through the parquet export")
    assert big.to_pylist() == run.to_arrow().to_pylist()


def test_report_rerun_and_analysis(celery_worker: Any, analyst: Client, cohort: Cohort) -> None:
    run = analyst.run(cohort.slug, COHORT_SPEC)
    report = run.report()
    assert report.steps[-1]["after"] == run.row_count
    assert report.summary[0]["column"] == "OVERALL"
    spec_report = analyst.queries.spec_report(cohort.slug, COHORT_SPEC)
    assert [step["after"] for step in spec_report.steps] == [step["after"] for step in report.steps]

    again = run.rerun().wait()
    assert again.id != run.id and again.rerun_of == run.id
    assert again.result_sha256 == run.result_sha256  # the same pinned versions give the same bytes
    assert [r.id for r in run.lineage().reruns] == [again.id]

    described = run.analysis("describe", column="score")
    assert described["n"] == run.row_count
    fit = run.analysis("ols", x="age", y="score")
    assert fit["n"] == run.row_count and "slope" in fit


def test_wait_times_out_and_cancel_stops_a_run(
    analyst: Client, cohort: Cohort, client_tenant: Any, django_db_blocker: Any
) -> None:
    run_id = queued_run_create(client_tenant, django_db_blocker, analyst.member, cohort.slug)  # type: ignore[attr-defined]
    with pytest.raises(WaitTimeout) as waited:
        analyst.queries.wait(run_id, timeout=0.6)
    assert (waited.value.job_id, waited.value.status) == (run_id, "queued")

    with pytest.raises(Conflict):  # no rows before the run has succeeded
        analyst.queries.rows(run_id)
    cancelled = analyst.queries.get(run_id).cancel()
    assert cancelled.status == "cancelled" and cancelled.finished
    with pytest.raises(RunCancelled) as stopped:
        cancelled.wait()
    assert stopped.value.job_id == run_id
    with pytest.raises(Conflict) as again:
        analyst.queries.cancel(run_id)
    assert again.value.code == "run_finished"
