"""Runs from the builder: the run panel, cancel, the preview, exports (purpose required), the report, run pages."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from queries.models import QueryRun
from tests.queries_pages.conftest import HX

pytestmark = pytest.mark.django_db

FORM = {
    "_builder": "1",
    "sessions": "BAS1",
    "out": "cognitive",
    "cols-cognitive": "working_memory",
}


def run_from_builder(client, django_capture_on_commit_callbacks, **fields: str) -> int:
    with django_capture_on_commit_callbacks(execute=False):  # queued, not sent to a worker
        response = client.post("/queries/memory/run/", {**FORM, **fields}, **HX)
    assert response.status_code == 200, response.content
    match = re.search(r'data-run="(\d+)"', response.content.decode())
    assert match and 'data-status="queued"' in response.content.decode()
    assert 'hx-trigger="load delay:1s"' in response.content.decode()  # the panel polls while the run is active
    return int(match.group(1))


def test_run_panel_preview_sort_and_pages(analyst, study_ro, execute, django_capture_on_commit_callbacks) -> None:
    run_id = run_from_builder(analyst, django_capture_on_commit_callbacks)
    assert execute(run_id) == "succeeded"
    panel = analyst.get(f"/queries/runs/{run_id}/panel/?builder=1", **HX).content.decode()
    assert 'data-status="succeeded"' in panel and 'hx-trigger="load delay:1s"' not in panel
    assert "data-row-count>4<" in panel and "Export CSV" in panel and "Export ZIP" in panel
    rows = analyst.get(f"/queries/runs/{run_id}/rows/", {"page_size": "10"}, **HX).content.decode()
    assert rows.count("<tr>") == 5 and "rows 1–4 of 4" in rows  # header + 4 BAS1 rows
    assert re.findall(r"<td>(\d{3})</td>", rows)[:4] == ["001", "002", "003", "004"]
    by_memory = analyst.get(
        f"/queries/runs/{run_id}/rows/", {"sort": "working_memory", "order": "desc", "page_size": "50"}, **HX
    ).content.decode()
    assert 'aria-sort="descending"' in by_memory and "<td>120.0</td>" in by_memory.split("<tbody>")[1][:400]
    assert '<option value="50" selected>' in by_memory
    paged = analyst.get(f"/queries/runs/{run_id}/rows/", {"page": "9", "page_size": "7"}, **HX).content.decode()
    assert "Page 1 of 1" in paged  # out-of-range pages and sizes are clamped
    assert analyst.get(f"/queries/runs/{run_id}/rows/", {"sort": "nope"}, **HX).status_code == 422


def test_cancel_a_queued_run(analyst, study_ro, django_capture_on_commit_callbacks) -> None:
    run_id = run_from_builder(analyst, django_capture_on_commit_callbacks, age_lo="20")
    cancelled = analyst.post(f"/queries/runs/{run_id}/cancel/", {"builder": "1"}, **HX)
    assert cancelled.status_code == 200 and 'data-status="cancelled"' in cancelled.content.decode()
    again = analyst.post(f"/queries/runs/{run_id}/cancel/", **HX)
    assert "already cancelled" in again.content.decode()


def test_invalid_query_does_not_run(analyst, study_ro) -> None:
    response = analyst.post("/queries/memory/run/", {**FORM, "age_lo": "60", "age_hi": "10"}, **HX)
    assert response.status_code == 422 and "The query cannot run." in response.content.decode()


def test_exports_need_a_purpose_and_go_through_run_export(
    analyst, study_ro, execute, tenant_a, django_capture_on_commit_callbacks
) -> None:
    run_id = run_from_builder(analyst, django_capture_on_commit_callbacks)
    execute(run_id)
    missing = analyst.post(f"/queries/runs/{run_id}/export/", {"format": "csv", "purpose": " "})
    assert missing.status_code == 422 and "State the purpose of this export" in missing.content.decode()
    response = analyst.post(f"/queries/runs/{run_id}/export/", {"format": "csv", "purpose": "Check the cohort"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert re.match(r'attachment; filename="cognitive_long_\d{8}_\d{6}\.csv"', response["Content-Disposition"])
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0] == "participant_id,session,age,sex,site,working_memory"
    assert len(body.splitlines()) == 5 and len(response["X-Content-SHA256"]) == 64
    archive = analyst.post(f"/queries/runs/{run_id}/export/", {"format": "zip", "purpose": "Archive for paper"})
    assert archive.status_code == 200 and archive["Content-Type"] == "application/zip"
    b"".join(archive.streaming_content)
    assert analyst.post(f"/queries/runs/{run_id}/export/", {"format": "xls", "purpose": "x y z"}).status_code == 422
    with tenant_context(tenant_a):
        purposes = list(AuditEvent.objects.filter(action="query.exported").values_list("details__purpose", flat=True))
    connection.set_schema_to_public()
    assert sorted(purposes) == ["Archive for paper", "Check the cohort"]


def test_report_fragment(analyst, study_ro, execute, django_capture_on_commit_callbacks) -> None:
    run_id = run_from_builder(analyst, django_capture_on_commit_callbacks, age_lo="30")
    execute(run_id)
    html = analyst.get(f"/queries/runs/{run_id}/report/", **HX).content.decode()
    steps = html.split('data-report="steps"')[1].split("</table>")[0]
    assert steps.count("<tr>") == 4  # header, initial, session, age
    assert "Final data summary" in html and "<code>working_memory</code>" in html and "OVERALL" in html


def test_run_page_list_and_edit(analyst, browser, study_ro, execute, django_capture_on_commit_callbacks) -> None:
    run_id = run_from_builder(analyst, django_capture_on_commit_callbacks, age_lo="25.5")
    execute(run_id)
    page = analyst.get(f"/queries/runs/{run_id}/").content.decode()
    assert f"Run #{run_id}" in page and "data-pinned" in page
    assert "<code>cognitive</code>" in page and "<code>demographics</code>" in page
    assert "demographics.age is at least 25.5" in page and "Sessions" in page
    assert f'hx-get="/queries/runs/{run_id}/rows/"' in page
    listing = analyst.get("/queries/runs/").content.decode()
    assert f'data-run="{run_id}"' in listing
    other = browser("analyst")
    assert other.get(f"/queries/runs/{run_id}/").status_code == 404  # another analyst's run
    assert f'data-run="{run_id}"' not in other.get("/queries/runs/").content.decode()
    assert other.post(f"/queries/runs/{run_id}/export/", {"format": "csv", "purpose": "abc"}).status_code == 404
    assert browser("steward").get(f"/queries/runs/{run_id}/").status_code == 200
    edited = analyst.post(f"/queries/runs/{run_id}/edit/")
    assert edited.status_code == 302 and edited["Location"] == "/queries/memory/"
    builder = analyst.get("/queries/memory/").content.decode()
    assert 'value="25.5"' in builder and 'name="cols-cognitive" value="working_memory" checked' in builder


def test_runs_are_the_same_as_api_runs(
    analyst, study_ro, execute, django_capture_on_commit_callbacks, tenant_a
) -> None:
    run_id = run_from_builder(analyst, django_capture_on_commit_callbacks)
    assert run_from_builder(analyst, django_capture_on_commit_callbacks) == run_id  # identical run in flight: joined
    with tenant_context(tenant_a):
        run = QueryRun.objects.get(pk=run_id)
        assert run.spec["sessions"] == ["BAS1"] and run.spec["columns"] == {"cognitive": ["working_memory"]}
    connection.set_schema_to_public()
