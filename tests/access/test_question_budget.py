"""The count budget decides on what a count-level caller asked, never on the answer (the review's finding: a budget
of distinct *result sets* answered or refused depending on the data, so refusals were a free existence oracle).

Each attack is replayed with two probes that differ only in the data they would select (nobody or someone; a
filter that removes nobody or someone): both are answered, refused or charged alike, with identical bodies."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from access.models import CountResultSet
from datasets.models import Study
from tests.csv_data import gov_cognitive_csv

pytestmark = pytest.mark.django_db

BIG = {"dataset": "cognitive", "column": "score", "op": "lte", "value": 43}  # 43 participants
NOBODY = {"dataset": "cognitive", "column": "score", "op": "lte", "value": 0}  # an impossible spec: the empty set
ALSO_NOBODY = {"dataset": "cognitive", "column": "score", "op": "gt", "value": 1000}
SOMEONE = {"dataset": "cognitive", "column": "score", "op": "lte", "value": 20}
NOTHING_REMOVED = {"dataset": "demographics", "column": "age", "op": "between", "value": [0, 1000]}
ONE_REMOVED = {"dataset": "cognitive", "column": "score", "op": "ne", "value": 7}  # one of BIG's 43


def budget(tenant: Any, questions: int) -> None:
    tenant.settings = {**(tenant.settings or {}), "count_budget_result_sets": questions}
    tenant.save(update_fields=["settings"])


def count(client: Any, *filters: dict[str, Any], dropoff: bool = False) -> Any:
    return client.post(f"/api/v1/studies/gov/count{'?dropoff=true' if dropoff else ''}", {"filters": list(filters)})


def report(client: Any, *filters: dict[str, Any]) -> Any:
    return client.post("/api/v1/studies/gov/report", {"filters": list(filters)})


def used(steward: Any, member: Any) -> int:
    activity = steward.get("/api/v1/studies/gov/count-activity").json()
    return int(next(item["used"] for item in activity["items"] if item["email"] == member.user.email))


def test_after_exhaustion_a_new_empty_and_a_new_nonempty_spec_are_refused_alike(
    gov, analyst_at, tenant_a, steward_api
) -> None:
    """Attack 1: count the empty set once, exhaust the budget, then a 200 meant "S is empty" and a 429 "S selects
    someone new". Now every new question is refused, whatever it selects, with the same body."""
    budget(tenant_a, 3)
    counter = analyst_at("count")
    for filters in ([NOBODY], [BIG], [SOMEONE]):
        assert count(counter, *filters).status_code == 200
    assert used(steward_api, counter) == 3
    empty, nonempty = count(counter, ALSO_NOBODY), count(counter, BIG, ONE_REMOVED)
    same_set = count(counter, BIG, NOTHING_REMOVED)  # the same people as BIG, asked another way
    assert empty.status_code == nonempty.status_code == same_set.status_code == 429
    assert empty.content == nonempty.content == same_set.content  # byte-identical: nothing of the data in it
    error = empty.json()["error"]
    assert error["code"] == "count_budget_exhausted"
    assert error["details"] == {"study": "gov", "limit": 3, "used": 3, "asked_new": 1, "window_hours": 24}
    assert count(counter, NOBODY).status_code == 200  # the identical question asked before: answered (same number)
    assert count(counter, BIG).json() == count(counter, BIG).json()
    assert used(steward_api, counter) == 3


def test_a_two_step_report_near_the_limit_costs_the_same_whether_the_filter_removes_anyone(
    gov, analyst_at, tenant_a, steward_api
) -> None:
    """Attack 2: near the limit, [S, S AND f] was answered when f removed nobody (one set fewer) and refused when it
    removed someone. Now a report costs one question per step, whatever the steps count."""
    noop, removing = analyst_at("count"), analyst_at("count")
    budget(tenant_a, 2)  # the report has 3 steps (everyone, after BIG, after the second filter): 3 questions
    refused = [report(noop, BIG, NOTHING_REMOVED), report(removing, BIG, ONE_REMOVED)]
    assert [r.status_code for r in refused] == [429, 429]
    assert refused[0].content == refused[1].content
    assert refused[0].json()["error"]["details"]["asked_new"] == 3
    budget(tenant_a, 3)
    answered = [report(noop, BIG, NOTHING_REMOVED), report(removing, BIG, ONE_REMOVED)]
    assert [r.status_code for r in answered] == [200, 200]
    assert used(steward_api, noop) == used(steward_api, removing) == 3


def test_the_refusal_counts_questions_not_the_new_sets_a_reports_filters_produce(gov, analyst_at, tenant_a) -> None:
    """Attack 3: ``asked_new`` counted the distinct new sets of a report's steps (how many filters removed someone).
    Now it is the number of new questions: the report's steps, whatever they select."""
    budget(tenant_a, 1)
    noop, removing = analyst_at("count"), analyst_at("count")
    first = report(noop, BIG, NOTHING_REMOVED, NOTHING_REMOVED, NOTHING_REMOVED)
    second = report(removing, BIG, ONE_REMOVED, {**ONE_REMOVED, "value": 8}, {**ONE_REMOVED, "value": 9})
    assert first.status_code == second.status_code == 429
    assert first.content == second.content
    details = first.json()["error"]["details"]
    assert details["asked_new"] == 5 and details["used"] == 0 and details["limit"] == 1
    assert "5 new" in first.json()["error"]["message"]


def test_the_dropoff_is_withheld_or_shown_whatever_its_filters_remove(gov, analyst_at, tenant_a) -> None:
    """The drop-off was withheld depending on how many of its sets were new (a filter removing nobody made the
    "removed alone" cell the empty set and "remaining" a set already counted). Now the decision follows from the
    filters asked: the count, the start, each remaining but the last, each removed-alone (5 for two filters)."""
    budget(tenant_a, 4)
    noop, removing = analyst_at("count"), analyst_at("count")
    answers = [count(noop, BIG, NOTHING_REMOVED, dropoff=True), count(removing, BIG, ONE_REMOVED, dropoff=True)]
    assert [a.status_code for a in answers] == [200, 200]
    for answer in answers:  # the count fits, the drop-off's questions do not: withheld for both
        assert answer.json()["dropoff_withheld"] == "count_budget_exhausted" and answer.json()["dropoff"] is None
    budget(tenant_a, 5)
    # The count was charged (1 used); the drop-off adds its 4 other questions: 5, the budget, for both.
    shown = [count(noop, BIG, NOTHING_REMOVED, dropoff=True), count(removing, BIG, ONE_REMOVED, dropoff=True)]
    for answer in shown:
        assert answer.status_code == 200 and answer.json()["dropoff_withheld"] is None
        assert len(answer.json()["dropoff"]) == 2


def test_a_new_version_of_a_dataset_makes_the_same_spec_a_new_question(
    gov, analyst_at, tenant_a, upload, steward_api
) -> None:
    budget(tenant_a, 1)
    counter = analyst_at("count")
    assert count(counter, BIG).status_code == 200
    assert count(counter, BIG).status_code == 200  # the same question on the same data: free
    changed = gov_cognitive_csv().replace("P060,BAS1,60", "P060,BAS1,59")
    _, ingest = upload("gov", changed, "cognitive")
    assert ingest["status"] == "succeeded", ingest
    again = count(counter, BIG)  # the same spec on new data: a new question (known from the versions, not the data)
    assert again.status_code == 429 and again.json()["error"]["details"]["asked_new"] == 1
    assert used(steward_api, counter) == 1


def test_ledger_rows_from_before_questions_still_count_and_age_out(gov, analyst_at, tenant_a, steward_api) -> None:
    """Rows the migration left (a result set by its cell keys, no question) stay valid: they count in their window,
    never match a question, and a new question is charged beside them."""
    budget(tenant_a, 3)
    counter = analyst_at("count")
    with tenant_context(tenant_a):
        study = Study.objects.get(slug="gov")
        for key in (11, 12):
            CountResultSet.objects.create(study=study, user=counter.user, participants_key=key, rows_key=key)
    connection.set_schema_to_public()
    assert used(steward_api, counter) == 2
    assert count(counter, BIG).status_code == 200
    assert used(steward_api, counter) == 3
    assert count(counter, SOMEONE).status_code == 429
