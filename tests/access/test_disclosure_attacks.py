"""Disclosure control replayed as an attacker with count-level access would try it (the security review's findings
2 and 5 and the cache-timing part of 12): averaging fails, differencing does not reveal one person, suppression is
decided on participants, the count budget locks out probing and stewards see and reset it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from queries.execution import query_count_key
from queries.services import _count_cache_key

pytestmark = pytest.mark.django_db

HIDDEN = {"dataset": "cognitive", "column": "score", "op": "lte", "value": 3}  # a group of 3 participants
BIG = {"dataset": "cognitive", "column": "score", "op": "lte", "value": 43}  # 43 participants
NOTHING_REMOVED = {"dataset": "demographics", "column": "age", "op": "between", "value": [0, 1000]}


def count(client: Any, *filters: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/studies/gov/count", {"filters": list(filters)})
    assert response.status_code == 200, response.content
    return dict(response.json())


def events(tenant: Any, action: str, actor: Any) -> list[AuditEvent]:
    with tenant_context(tenant):
        found = list(AuditEvent.objects.filter(action=action, actor_id=actor.pk).order_by("id"))
    connection.set_schema_to_public()
    return found


def test_averaging_200_no_op_steps_of_one_report_learns_nothing(gov, analyst_at) -> None:
    """The review's attack: a filter that removes nobody, repeated in one report; the steps were averaged."""
    counter = analyst_at("count")
    for first in (HIDDEN, BIG):
        spec = {"filters": [first] + [NOTHING_REMOVED] * 199}
        response = counter.post("/api/v1/studies/gov/report", spec)
        assert response.status_code == 200, response.content
        steps = response.json()["steps"][1:]
        assert len(steps) == 200
        shown = {(step["after"], step["participants_after"], step["suppressed"]) for step in steps}
        assert len(shown) == 1  # the same set of participants: the same number 200 times, so the mean is that number
        after, people, suppressed = shown.pop()
        if first is HIDDEN:
            assert suppressed and after is None and people is None  # the group of 3 stays hidden
        else:
            assert not suppressed and abs(people - 43) <= 3


def test_averaging_60_variant_specs_selecting_the_same_participants_learns_nothing(
    gov, analyst_at, steward_api
) -> None:
    counter = analyst_at("count")
    for target in (HIDDEN, BIG):
        answers = [
            count(
                counter, target, {"dataset": "demographics", "column": "age", "op": "between", "value": [0, 1000 + i]}
            )
            for i in range(60)
        ]
        assert all(answer == answers[0] for answer in answers)
        if target is HIDDEN:
            assert answers[0]["suppressed"] is True and answers[0]["participants"] is None
        else:
            assert abs(answers[0]["participants"] - 43) <= 3 and answers[0]["perturbed"] is True, answers[0]
    # 120 specs, two sets of participants: 120 questions (the budget charges what is asked, never what it selects)
    activity = steward_api.get("/api/v1/studies/gov/count-activity").json()
    mine = next(item for item in activity["items"] if item["email"] == counter.user.email)
    assert mine["used"] == 120 and mine["answers"] == 120 and mine["questions_ever"] == 120


def test_differencing_a_group_and_the_group_minus_one_person_does_not_reveal_the_person(gov, analyst_at) -> None:
    counter = analyst_at("count")
    whole = count(counter, BIG)["participants"]
    differences = [
        whole - count(counter, BIG, {"dataset": "cognitive", "column": "score", "op": "ne", "value": i})["participants"]
        for i in range(1, 44)
    ]
    exact = analyst_at("query")
    assert all(
        43 - count(exact, BIG, {"dataset": "cognitive", "column": "score", "op": "ne", "value": i})["participants"] == 1
        for i in (1, 20, 43)
    )
    spread = Counter(differences)
    assert spread[1] < 0.6 * len(differences), spread  # "one person fewer" is not what the answers say
    # Each difference is 1 + the whole's noise - the smaller group's: spread over several values whatever the whole's
    # own noise is (at +D every difference is at least 1, at -D at most 1, so no fixed side of 1 can be asked for).
    assert len(spread) >= 3 and max(differences) - min(differences) >= 2, spread


def test_a_longitudinal_step_with_8_participants_and_15_rows_is_suppressed(
    make_study, upload, api, tenant_a, steward_api
) -> None:
    make_study("visits", age_column="age")
    demo = ["participant_id,session,age"]
    flags = ["participant_id,session,flag"]
    for i in range(1, 31):
        for session in ("BAS1", "FU1"):
            demo.append(f"V{i:02d},{session},{30 + i}")
            marked = i <= 7 or (i == 8 and session == "BAS1")  # 8 participants, 15 participant-sessions
            flags.append(f"V{i:02d},{session},{'x' if marked else 'y'}")
    for name, lines, kind in (("demographics", demo, "demographics"), ("flags", flags, "measure")):
        _, ingest = upload("visits", "\n".join(lines) + "\n", name, kind=kind)
        assert ingest["status"] == "succeeded", ingest
    spec = {"filters": [{"dataset": "flags", "column": "flag", "op": "eq", "value": "x"}]}
    exact = steward_api.post("/api/v1/studies/visits/report", spec).json()["steps"]
    assert (exact[-1]["after"], exact[-1]["participants_after"]) == (15, 8)
    assert steward_api.post("/api/v1/studies/visits/defaults", {"level": "count"}).status_code == 201
    counter = api(tenant_a, "analyst")
    step = counter.post("/api/v1/studies/visits/report", spec).json()["steps"][-1]
    assert step["suppressed"] is True and step["after"] is None and step["participants_after"] is None
    counted = counter.post("/api/v1/studies/visits/count", spec).json()
    assert counted["suppressed"] is True and counted["rows"] is None


def test_the_same_set_shows_the_same_number_on_every_surface(gov, analyst_at, browser_of, steward_api) -> None:
    counter = analyst_at("count")
    everyone = count(counter)  # no filter: every participant
    report = counter.post("/api/v1/studies/gov/report", {"filters": [NOTHING_REMOVED]}).json()["steps"]
    demographics = counter.get("/api/v1/studies/gov/datasets/demographics").json()["latest_version"]
    assert report[0]["participants_after"] == report[1]["participants_after"] == everyone["participants"]
    assert demographics["participants"] == everyone["participants"] and demographics["row_count"] == everyone["rows"]
    listing = browser_of(counter.user).get("/studies/").content.decode()
    assert f"<dd>{everyone['participants']}</dd>" in listing
    builder = browser_of(counter.user).get("/queries/gov/count/", HTTP_HX_REQUEST="true").content.decode()
    assert f"of {everyone['participants']}</span>" in builder
    # A value of the catalog (sex F: 30 participants, one row each) and the count of the same people
    sex = next(c for c in demographics["columns"] if c["name"] == "sex")
    shown = {item["value"]: item["count"] for item in sex["top_values"]}
    assert shown["F"] == count(counter, {"dataset": "demographics", "column": "sex", "op": "eq", "value": "F"})["rows"]
    assert all(abs(value - 30) <= 3 for value in shown.values())


def test_the_count_budget_locks_out_new_questions_and_a_steward_resets_it(
    gov, analyst_at, steward_api, tenant_a, browser_of
) -> None:
    tenant_a.settings = {**(tenant_a.settings or {}), "count_budget_result_sets": 5}
    tenant_a.save(update_fields=["settings"])
    counter = analyst_at("count")
    variants = [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 20 + i} for i in range(6)]
    for spec in variants[:5]:
        count(counter, spec)
    refused = counter.post("/api/v1/studies/gov/count", {"filters": [variants[5]]})
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "count_budget_exhausted" and error["details"]["limit"] == 5 and "reset" in error["message"]
    count(counter, variants[0])  # a question already answered is still answered (the same number anyway)
    report = counter.post("/api/v1/studies/gov/report", {"filters": [variants[5]]})
    assert report.status_code == 429  # every surface charges the same budget
    refusal = events(tenant_a, "count_budget.exhausted", counter.user)
    assert refusal and refusal[-1].details["spec"]["filters"] == [variants[5]]

    activity = steward_api.get("/api/v1/studies/gov/count-activity").json()
    mine = next(item for item in activity["items"] if item["email"] == counter.user.email)
    assert mine["used"] == 5 and mine["locked"] is True and mine["remaining"] == 0
    assert any(spec["spec"] and spec["spec"]["filters"] == [variants[4]] for spec in mine["specs"])
    assert counter.get("/api/v1/studies/gov/count-activity").status_code == 403  # stewards only
    page = browser_of(steward_api.user).get("/console/activity/?study=gov").content.decode()
    assert counter.user.email in page and "data-locked" in page

    reset = steward_api.post(f"/api/v1/studies/gov/count-activity/{counter.user.email}/reset", {"reason": "checked"})
    assert reset.status_code == 200, reset.content
    assert reset.json()["used"] == 0 and reset.json()["locked"] is False
    assert events(tenant_a, "count_budget.reset", steward_api.user)[-1].details["user"] == counter.user.email
    assert counter.post("/api/v1/studies/gov/count", {"filters": [variants[5]]}).status_code == 200
    unknown = steward_api.post("/api/v1/studies/gov/count-activity/nobody@example.org/reset", {})
    assert unknown.status_code == 404


def test_query_level_callers_are_not_budgeted(gov, analyst_at, tenant_a) -> None:
    tenant_a.settings = {**(tenant_a.settings or {}), "count_budget_result_sets": 1}
    tenant_a.save(update_fields=["settings"])
    exact = analyst_at("query")
    assert [count(exact, {**BIG, "value": 10 + i})["participants"] for i in range(3)] == [10, 11, 12]


def test_every_count_and_report_audit_event_holds_the_full_spec(gov, analyst_at, tenant_a) -> None:
    counter = analyst_at("count")
    spec = {"filters": [BIG, NOTHING_REMOVED]}
    assert counter.post("/api/v1/studies/gov/count", spec).status_code == 200
    assert counter.post("/api/v1/studies/gov/report", spec).status_code == 200
    for action in ("query.count", "query.report"):
        recorded = events(tenant_a, action, counter.user)[-1].details
        assert recorded["spec"]["filters"] == spec["filters"] and recorded["spec_hash"]


def test_another_members_count_never_warms_your_cache(gov, analyst_at, tenant_a) -> None:
    """Cache hits are scoped per member: a quick answer cannot tell you that someone else counted the spec."""
    first, second = analyst_at("count"), analyst_at("count")
    spec = {"filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 37}]}
    count(first, *spec["filters"])
    count(first, *spec["filters"])
    count(second, *spec["filters"])
    assert [e.details["cached"] for e in events(tenant_a, "query.count", first.user)] == [False, True]
    assert [e.details["cached"] for e in events(tenant_a, "query.count", second.user)] == [False]
    with tenant_context(tenant_a):
        from datasets.models import Study
        from queries.core.spec import spec_parse

        key = query_count_key(Study.objects.get(slug="gov"), spec_parse(spec)).cache_key + ":keyed"
        assert cache.get(_count_cache_key(first.user, key)) is not None
        assert _count_cache_key(first.user, key) != _count_cache_key(second.user, key)
    connection.set_schema_to_public()


def test_the_secret_and_the_record_keys_stay_out_of_sql_results_exports_and_storage(
    gov, analyst_at, steward_api, execute, tenant_a, monkeypatch
) -> None:
    import io
    import zipfile

    import pyarrow.parquet as pq
    from django.conf import settings
    from django.core.files.storage import default_storage

    from access.record_keys import disclosure_master_secret, record_keys_file, study_key_secret
    from datasets.models import Study
    from queries.core.engines.duckdb_engine import DuckDBEngine

    statements: list[str] = []
    original = DuckDBEngine._fetch_all

    def recording(self: DuckDBEngine, sql: str) -> Any:
        statements.append(sql)
        return original(self, sql)

    monkeypatch.setattr(DuckDBEngine, "_fetch_all", recording)
    counter = analyst_at("count")
    count(counter, BIG)
    assert counter.post("/api/v1/studies/gov/report", {"filters": [BIG]}).status_code == 200
    with tenant_context(tenant_a):
        study = Study.objects.get(slug="gov")
        keys = record_keys_file(study, study.demographics.latest_version())
        secrets = [disclosure_master_secret(), study_key_secret(study)]
        record_keys = [str(k) for k in pq.read_table(keys.path).column(keys.key_column).to_pylist() if k > 99_999]
        prefix = f"tenants/{connection.schema_name}/"
    connection.set_schema_to_public()
    assert statements and any('"rk"' in s for s in statements), statements[:1]  # the keys are a joined column
    text = "\n".join(statements)
    for secret in secrets:
        assert secret.hex() not in text and secret.decode("latin-1") not in text
    assert not any(key in text for key in record_keys)
    assert str(settings.MEDIA_ROOT) not in str(keys.path)  # a local cache file, never in storage
    stored = [name for name in _walk(default_storage, prefix) if "record" in name or keys.digest in name]
    assert stored == []

    run_id = steward_api.post("/api/v1/studies/gov/queries", {"filters": [BIG]}).json()["id"]
    assert execute(run_id) == "succeeded"
    archive = steward_api.get(f"/api/v1/queries/{run_id}/export?format=zip&purpose=disclosure+check")
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as bundle:
        for name in bundle.namelist():
            content = bundle.read(name).decode("utf-8", errors="replace")
            assert "record_key" not in content and not any(key in content for key in record_keys), name


def _walk(storage: Any, folder: str) -> list[str]:
    if not storage.exists(folder):
        return []
    folders, files = storage.listdir(folder)
    found = [f"{folder}{name}" for name in files]
    for sub in folders:
        found += _walk(storage, f"{folder}{sub}/")
    return found


def test_duckdb_and_postgresql_studies_show_the_same_numbers(gov, analyst_at, steward_api) -> None:
    """The record keys are a table both engines join: switching the study's engine changes no shown number."""
    counter = analyst_at("count")
    specs = [[BIG], [BIG, NOTHING_REMOVED], [{"dataset": "demographics", "column": "sex", "op": "eq", "value": "F"}]]
    on_duckdb = [count(counter, *filters) for filters in specs]
    report = counter.post("/api/v1/studies/gov/report", {"filters": specs[1]}).json()["steps"]
    assert steward_api.patch("/api/v1/studies/gov", {"engine": "postgres"}).status_code == 200
    assert [count(counter, *filters) for filters in specs] == on_duckdb
    assert counter.post("/api/v1/studies/gov/report", {"filters": specs[1]}).json()["steps"] == report


def test_a_runs_surfaces_show_the_numbers_of_its_set(gov, analyst_at, grant, execute, tenant_a, steward_api) -> None:
    """A run made with query access and read after a downgrade to count: its row count, the last step of its report,
    its summary and a crosstab's total all show the live count's number of the same participants."""
    from tests.access.test_review_fixes import SPEC, _run_then_lower

    analyst = analyst_at("count")
    run_id = _run_then_lower(analyst, grant, execute, tenant_a, steward_api)
    live = analyst.post("/api/v1/studies/gov/count", SPEC).json()
    assert not live["suppressed"] and abs(live["rows"] - 13) <= 3
    assert analyst.get(f"/api/v1/queries/{run_id}").json()["row_count"] == live["rows"]
    report = analyst.get(f"/api/v1/queries/{run_id}/report").json()
    assert report["steps"][-1]["after"] == live["rows"] and report["summary"][0]["count"] == live["rows"]
    score = next(item for item in report["summary"] if item["column"] == "score")
    assert score["count"] == live["rows"] and score["missing"] is None  # every row holds a score: the same set
    table = analyst.post(f"/api/v1/queries/{run_id}/analysis", {"kind": "crosstab", "row": "sex", "column": "session"})
    assert table.status_code == 200, table.content
    assert table.json()["total"] == live["rows"]


def test_the_console_activity_page_resets_a_budget_and_is_for_stewards(
    gov, analyst_at, steward_api, tenant_a, browser_of
) -> None:
    steward = browser_of(steward_api.user)
    empty = steward.get("/console/activity/?study=gov").content.decode()
    assert "data-activity-empty" in empty
    counter = analyst_at("count")
    count(counter, BIG)
    page = steward.get("/console/activity/?study=gov").content.decode()
    assert f'data-member="{counter.user.email}"' in page and 'data-used="1"' in page and "score" in page
    done = steward.post(
        "/console/activity/reset/",
        {"study": "gov", "email": counter.user.email, "reason": "reviewed", "next": "/console/activity/?study=gov"},
        follow=True,
    ).content.decode()
    assert "Reset the count budget" in done and 'data-used="0"' in done
    reset = events(tenant_a, "count_budget.reset", steward_api.user)[-1]
    assert reset.details["reason"] == "reviewed" and reset.details["used_before"] == 1
    assert browser_of(counter.user).get("/console/activity/").status_code == 403


def test_a_crosstab_refusal_does_not_count_the_distinct_values(gov, analyst_at, grant, execute, tenant_a, steward_api):
    """Aggregate-only crosstabs: a table with too many levels was refused with the column's exact number of distinct
    values (on the id column: the exact number of participants). Levels are now counted as the table would show them
    (values fewer than k participants hold as one), and a refusal carries no count."""
    from tests.access.test_review_fixes import _run_then_lower

    analyst = analyst_at("count")
    run_id = _run_then_lower(analyst, grant, execute, tenant_a, steward_api)
    tenant_a.settings = {**(tenant_a.settings or {}), "analysis_max_groups": 2}
    tenant_a.save(update_fields=["settings"])
    by_id = {"kind": "crosstab", "row": "participant_id", "column": "session"}
    table = analyst.post(f"/api/v1/queries/{run_id}/analysis", by_id)
    assert table.status_code == 200, table.content  # every id is rare: one "(other values)" row
    assert table.json()["row_levels"] == ["(other values)"]
