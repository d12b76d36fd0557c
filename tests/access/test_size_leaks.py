"""Review of count-level leaks: the exact sizes of a study reached members below the query level through the study's
History tab (version row counts), the "too much work" refusal of counts and live reports, and the
``many_sessions`` ingest warning. Each now shows what the catalog shows at the caller's level."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.django_db

AGE_FILTER = {"filters": [{"dataset": "demographics", "column": "age", "op": "gt", "value": 20}]}


def _history_rows(page: str) -> dict[str, str]:
    """Version label -> the text of its "Rows" change on the History tab."""
    found = re.findall(
        r"Version <code>([^<]+)</code>.*?<th scope=\"row\">Rows</th><td>.*?<ins class=\"change-new\">([^<]*)</ins>",
        page,
        flags=re.S,
    )
    return dict(found)


def test_history_shows_version_row_counts_as_the_catalog_does(
    gov: str, upload: Any, analyst_at: Any, api: Any, tenant_a: Any, browser_of: Any
) -> None:
    tiny = "participant_id,session,note\nP001,BAS1,a\nP002,BAS1,b\nP003,BAS1,c\n"
    assert upload("gov", tiny, "tiny", kind="measure")[1]["status"] == "succeeded"
    exact = _history_rows(browser_of(analyst_at("query").user).get("/studies/gov/history/").content.decode())
    assert (exact["demographics v1"], exact["tiny v1"]) == ("60", "3")
    for caller in (analyst_at("count"), api(tenant_a, "viewer")):
        page = browser_of(caller.user).get("/studies/gov/history/")
        assert page.status_code == 200
        shown = _history_rows(page.content.decode())
        # three rows are a group below k: nothing of it is shown
        assert shown["tiny v1"].startswith("not shown") and "3" not in shown["tiny v1"], shown
        protected = caller.get("/api/v1/studies/gov/datasets/demographics").json()["latest_version"]["row_count"]
        assert shown["demographics v1"] == f"{protected:,} (perturbed: your access is below row level)", shown
        assert caller.get("/api/v1/studies/gov/datasets/tiny").json()["latest_version"]["row_count"] is None


def test_a_consortium_members_history_shows_no_exact_small_count(
    gov: str, upload: Any, steward_api: Any, cons_steward: Any, consortium: Any, api: Any
) -> None:
    """The consortium's versions are the lab's (their row counts copied): its History tab follows its catalog."""
    from django.test import Client

    from tests.plugins.sharing import offer_and_accept

    tiny = "participant_id,session,note\nP001,BAS1,a\nP002,BAS1,b\nP003,BAS1,c\n"
    assert upload("gov", tiny, "tiny", kind="measure")[1]["status"] == "succeeded"
    offer_and_accept(steward_api, cons_steward, "gov", "gov-hist")

    def history_of(user: Any) -> dict[str, str]:
        browser = Client(HTTP_HOST=consortium.primary_domain_name())
        browser.force_login(user)
        page = browser.get("/studies/gov-hist/history/")
        assert page.status_code == 200
        return _history_rows(page.content.decode())

    assert history_of(cons_steward.user)["tiny v1"] == "3"
    viewer = api(consortium, "viewer")
    shown = history_of(viewer.user)
    assert shown["tiny v1"].startswith("not shown") and "3" not in shown["tiny v1"], shown
    protected = viewer.get("/api/v1/studies/gov-hist/datasets/demographics").json()["latest_version"]["row_count"]
    assert shown["demographics v1"] == f"{protected:,} (perturbed: your access is below row level)", shown


def _work_limit(tenant: Any, limit: int) -> None:
    tenant.settings = {**(tenant.settings or {}), "interactive_max_work": limit}
    tenant.save(update_fields=["settings"])


def test_too_much_work_refusal_names_no_size_below_query(gov: str, analyst_at: Any, tenant_a: Any) -> None:
    _work_limit(tenant_a, 50)  # the demographics' 60 rows x 1 condition is over it; a report is costed on 200,000
    counter, querier = analyst_at("count"), analyst_at("query")
    for path in ("/api/v1/studies/gov/count", "/api/v1/studies/gov/report"):
        refused = counter.post(path, AGE_FILTER)
        assert refused.status_code == 422, refused.content
        error = refused.json()["error"]
        assert error["code"] == "too_large"
        text = str(refused.json())
        for size in ("60", "200,000", "200000", "3,840", "3840"):  # rows, participants, report rows, memory
            assert size not in text, (path, text)
        assert "fewer" in error["message"] and "1 condition " in error["message"], error
        assert set(error["details"]) == {"conditions", "max_work", "protected"}
        exact = querier.post(path, AGE_FILTER)
        assert exact.status_code == 422 and exact.json()["error"]["code"] == "too_large"
        assert exact.json()["error"]["details"]["participants"] == 60
    assert "60 rows" in querier.post("/api/v1/studies/gov/count", AGE_FILTER).json()["error"]["message"]


def test_the_many_sessions_warning_keeps_its_count_from_count_level_callers(
    make_study: Any, upload: Any, steward_api: Any, api: Any, tenant_a: Any
) -> None:
    make_study("visits")
    lines = ["participant_id,session,age"] + [
        f"V{i:02d},S{i * 51 + s:04d},{30 + i}" for i in range(20) for s in range(51)
    ]
    _, ingest = upload("visits", "\n".join(lines) + "\n", "demographics", kind="demographics")  # 1,020 labels
    assert ingest["status"] == "succeeded", ingest
    exact = steward_api.get("/api/v1/studies/visits/datasets/demographics").json()["latest_version"]["warnings"]
    assert [w["details"] for w in exact if w["code"] == "many_sessions"] == [{"count": 1020}]
    assert steward_api.post("/api/v1/studies/visits/defaults", {"level": "count"}).status_code == 201
    for caller in (api(tenant_a, "analyst"), api(tenant_a, "viewer")):
        version = caller.get("/api/v1/studies/visits/datasets/demographics").json()["latest_version"]
        warning = next(w for w in version["warnings"] if w["code"] == "many_sessions")
        assert "1,020" not in str(warning) and "1020" not in str(warning) and warning["details"] == {}, warning
        assert "session" in warning["message"]
        read = caller.get(f"/api/v1/ingests/{ingest['id']}").json()
        assert "1,020" not in str(read) and "1020" not in str(read), read
