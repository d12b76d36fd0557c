"""The count's drop-off (``?dropoff=true``): exact for query-level callers; for count-level callers every number is a
cell of the cell-key method (the same number as the count of the same set on any surface), small sets are
suppressed, and differencing the drop-off's cells does not single out a person."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

pytestmark = pytest.mark.django_db

BIG = {"dataset": "cognitive", "column": "score", "op": "lte", "value": 43}  # 43 participants
HIDDEN = {"dataset": "cognitive", "column": "score", "op": "lte", "value": 3}  # 3 participants
WOMEN = {"dataset": "demographics", "column": "sex", "op": "eq", "value": "F"}  # 30 participants (odd numbers)
AGE = {"dataset": "demographics", "column": "age", "op": "between", "value": [25, 49]}


def _without(index: int) -> dict[str, Any]:
    return {"dataset": "cognitive", "column": "score", "op": "ne", "value": index}


def dropoff(client: Any, *filters: dict[str, Any], study: str = "gov") -> dict[str, Any]:
    response = client.post(f"/api/v1/studies/{study}/count?dropoff=true", {"filters": list(filters)})
    assert response.status_code == 200, response.content
    return dict(response.json())


def count(client: Any, *filters: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/studies/gov/count", {"filters": list(filters)})
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_query_level_callers_get_the_exact_dropoff_of_every_filter(gov, analyst_at) -> None:
    exact = analyst_at("query")
    answer = dropoff(exact, BIG, WOMEN, AGE)
    assert answer["dropoff_start"] == {"participants": 60}
    expected_remaining = [count(exact, *[BIG, WOMEN, AGE][: i + 1])["participants"] for i in range(3)]
    assert [d["remaining"] for d in answer["dropoff"]] == expected_remaining
    assert answer["participants"] == expected_remaining[-1]
    assert [d["filter"] for d in answer["dropoff"]] == [0, 1, 2]
    assert answer["dropoff"][0]["removed"] == 60 - expected_remaining[0]
    # Removed alone = counted without the filter, not with it.
    for i in range(3):
        others = [f for j, f in enumerate([BIG, WOMEN, AGE]) if j != i]
        assert answer["dropoff"][i]["removed_alone"] == count(exact, *others)["participants"] - answer["participants"]
    plain = count(exact, BIG, WOMEN, AGE)
    assert plain["dropoff"] is None and plain["participants"] == answer["participants"]


def test_every_dropoff_number_is_the_protected_count_of_its_own_set(gov, analyst_at) -> None:
    counter = analyst_at("count")
    answer = dropoff(counter, BIG, WOMEN, AGE)
    assert answer["perturbed"] is True
    assert answer["dropoff_start"]["participants"] == count(counter)["participants"]
    for i, item in enumerate(answer["dropoff"]):
        same_set = count(counter, *[BIG, WOMEN, AGE][: i + 1])
        assert item["remaining"] == same_set["participants"]
    assert answer["participants"] == answer["dropoff"][-1]["remaining"]
    assert answer["participants"] == count(counter, BIG, WOMEN, AGE)["participants"]
    # "removed" follows from the shown numbers, never from exact ones
    first = answer["dropoff"][0]
    assert first["removed"] == answer["dropoff_start"]["participants"] - first["remaining"]


def test_a_filter_that_removes_fewer_than_k_on_its_own_shows_no_number(gov, analyst_at) -> None:
    counter = analyst_at("count")
    answer = dropoff(counter, BIG, _without(7))
    assert answer["dropoff"][1]["removed_alone"] is None  # one person: suppressed
    hidden = dropoff(counter, HIDDEN, WOMEN)
    assert hidden["suppressed"] is True and hidden["participants"] is None
    assert hidden["dropoff"][0]["remaining"] is None and hidden["dropoff"][1]["remaining"] is None
    assert hidden["dropoff"][0]["removed"] is None  # nothing derived from a suppressed cell
    exact = dropoff(analyst_at("query"), BIG, _without(7))
    assert exact["dropoff"][1]["removed_alone"] == 1 and exact["dropoff"][1]["removed"] == 1


def test_differencing_dropoff_cells_does_not_reveal_the_person(gov, analyst_at) -> None:
    """The attack: a group, then "everyone but person i"; the step between two cells and the filter's own removal
    should say "one person" each time."""
    counter = analyst_at("count")
    answers = [dropoff(counter, BIG, _without(i)) for i in range(1, 44)]
    in_order = [a["dropoff"][1]["removed"] for a in answers]
    assert all(a["dropoff"][1]["removed_alone"] is None for a in answers)  # never "1"
    spread = Counter(in_order)
    assert spread[1] < 0.6 * len(in_order), spread  # "one person fewer" is not what the answers say
    # Spread over several values whatever the whole's own noise is (which fixes on which side of 1 they fall).
    assert len(spread) >= 3 and max(in_order) - min(in_order) >= 2, spread
    # The cells of one answer agree with the count surface, so averaging surfaces learns nothing either.
    assert all(a["dropoff"][0]["remaining"] == answers[0]["dropoff"][0]["remaining"] for a in answers)


def test_every_dropoff_cell_is_charged_to_the_count_budget(gov, analyst_at, steward_api) -> None:
    counter = analyst_at("count")
    dropoff(counter, BIG, WOMEN)
    activity = steward_api.get("/api/v1/studies/gov/count-activity").json()
    mine = next(item for item in activity["items"] if item["email"] == counter.user.email)
    # the count (= after BIG+WOMEN), start, after BIG, removed alone by BIG, by WOMEN: 5 questions, from the spec
    assert mine["used"] == 5
    dropoff(counter, BIG, WOMEN)  # the same questions again: nothing new
    activity = steward_api.get("/api/v1/studies/gov/count-activity").json()
    assert next(item for item in activity["items"] if item["email"] == counter.user.email)["used"] == 5


def test_a_bad_dropoff_flag_is_refused(gov, analyst_at) -> None:
    counter = analyst_at("query")
    response = counter.post("/api/v1/studies/gov/count?dropoff=maybe", {"filters": [BIG]})
    assert response.status_code == 422
    metadata = analyst_at("metadata")
    refused = metadata.post("/api/v1/studies/gov/count?dropoff=true", {"filters": [BIG]})
    assert refused.status_code == 403


def test_the_builder_shows_count_level_callers_the_protected_dropoff(gov, analyst_at, browser_of) -> None:
    counter = analyst_at("count")
    browser = browser_of(counter.user)
    form = {
        "_builder": "1",
        "f-0-dataset": "cognitive",
        "f-0-column": "score",
        "f-0-op": "lt",
        "f-0-value": "44",
        "f-1-dataset": "cognitive",
        "f-1-column": "score",
        "f-1-op": "ne",
        "f-1-value": "7",
    }
    html = browser.post("/queries/gov/state/", form, HTTP_HX_REQUEST="true").content.decode()
    api = dropoff(
        counter,
        {"dataset": "cognitive", "column": "score", "op": "lt", "value": 44},
        {"dataset": "cognitive", "column": "score", "op": "ne", "value": 7},
    )
    shown = re.search(r'id="row-1-dropoff"[^>]*>(.*?)</p>', html, re.S)
    assert shown, html
    numbers = dict(re.findall(r"data-([a-z-]+)>([^<]+)<", shown.group(1)))
    assert numbers["remaining"] == str(api["dropoff"][1]["remaining"])
    assert numbers["removed-alone"] == "too few to show"  # one person: never shown


def test_a_dropoff_past_the_count_budget_is_withheld_and_the_count_still_answered(gov, analyst_at, tenant_a) -> None:
    tenant_a.settings = {**(tenant_a.settings or {}), "count_budget_result_sets": 3}
    tenant_a.save(update_fields=["settings"])
    counter = analyst_at("count")
    answer = dropoff(counter, BIG, WOMEN, AGE)  # 7 questions (count, start, 2 remaining, 3 removed alone): over 3
    assert answer["dropoff_withheld"] == "count_budget_exhausted" and answer["dropoff"] is None
    assert answer["participants"] == count(counter, BIG, WOMEN, AGE)["participants"]  # the same question: free
    count(counter, WOMEN)
    count(counter, AGE)  # with the drop-off's count: 3 questions, the budget
    over = counter.post("/api/v1/studies/gov/count", {"filters": [BIG]})
    assert over.status_code == 429 and over.json()["error"]["code"] == "count_budget_exhausted"
