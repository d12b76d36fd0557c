"""The builder and catalog pages by access level: what is offered, count surfaces for count-only members
(suppressed / perturbed, never a small group, no way to rows), identifying columns, level badges, and
study-wide grants reaching datasets added later."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from access.models import DatasetUserObjectPermission
from queries.models import QueryRun
from tests.csv_data import gov_cognitive_csv as cognitive_csv
from tests.plugins.studies import tag_identifying

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
SMALL_ROW = {"f-0-dataset": "cognitive", "f-0-column": "score", "f-0-op": "between", "f-0-lo": "1", "f-0-hi": "3"}
BIG_ROW = {"f-0-dataset": "cognitive", "f-0-column": "score", "f-0-op": "between", "f-0-lo": "1", "f-0-hi": "43"}
BIG_SPEC = {"filters": [{"dataset": "cognitive", "column": "score", "op": "between", "value": [1, 43]}]}


def state(client, **fields):
    return client.post("/queries/gov/state/", {"_builder": "1", **fields}, **HX)


def participants_text(html: str) -> str:
    match = re.search(r"data-participants>([^<]+)<", html)
    assert match, html
    return match.group(1).strip()


def test_count_only_member_sees_suppressed_and_perturbed_counts_and_no_way_to_rows(
    gov, analyst_at, browser_of, tenant_a
) -> None:
    member = browser_of(analyst_at("count").user)
    page = member.get("/queries/gov/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="run-button"' not in html and "data-count-only-help" in html and "Request access" in html
    assert 'name="out" value="cognitive"' not in html  # count-level tables give no output columns
    assert "data-count-only" in html

    small = state(member, **SMALL_ROW).content.decode()
    assert 'data-count="suppressed"' in small and participants_text(small) == "Too few"
    assert not re.search(r"data-(participants|rows)>\s*3\s*<", small)  # never the exact small number
    big = state(member, **BIG_ROW).content.decode()
    shown = int(participants_text(big).replace(",", ""))
    assert abs(shown - 43) <= 3 and "data-perturbed" in big
    assert shown == analyst_at("count").post("/api/v1/studies/gov/count", BIG_SPEC).json()["participants"]
    again = member.get("/queries/gov/count/", **HX).content.decode()  # the stored draft, counted again
    assert int(participants_text(again).replace(",", "")) == shown  # repeating gives the same answer

    ran = member.post("/queries/gov/run/", {"_builder": "1", **BIG_ROW}, **HX)
    assert ran.status_code == 403 and "query level" in ran.content.decode()
    with tenant_context(tenant_a):
        assert not QueryRun.objects.filter(created_by_id=member.user.pk).exists()
    connection.set_schema_to_public()


def test_count_only_member_sees_no_exact_value_counts_in_the_filter_rows(gov, analyst_at, browser_of) -> None:
    counter = browser_of(analyst_at("count").user)
    querier = browser_of(analyst_at("query").user)
    row = {"f-0-dataset": "demographics", "f-0-column": "sex", "f-0-op": "in"}
    for member in (counter, querier):
        state(member, **row)
    exact = querier.get("/queries/gov/").content.decode()
    assert re.search(r'value="F"[^>]*> <span class="qb-value">F</span> <span class="muted small">30</span>', exact)
    hidden = counter.get("/queries/gov/").content.decode()
    assert 'name="f-0-values" value="F"' in hidden  # the values are offered (metadata) ...
    assert not re.search(r'<span class="qb-value">F</span> <span class="muted small">', hidden)  # ... not counts


def test_metadata_only_member_gets_a_request_access_page(gov, analyst_at, browser_of) -> None:
    member = browser_of(analyst_at("metadata").user)
    page = member.get("/queries/gov/")
    assert page.status_code == 403
    html = page.content.decode()
    assert "data-request-access" in html and "/access/request/gov/?dataset=demographics" in html
    assert member.get("/queries/gov/count/", **HX).status_code == 403


def test_identifying_columns_are_not_offered_and_runs_leave_them_out(
    gov, analyst_at, browser_of, grant, tenant_a
) -> None:
    tag_identifying(tenant_a, "gov", "demographics", "name")
    analyst = analyst_at("export")
    member = browser_of(analyst.user)
    state(member, **{"f-0-dataset": "demographics"})
    html = member.get("/queries/gov/").content.decode()
    assert 'value="age"' in html and 'value="name"' not in html
    assert "data-hidden-columns" in html and "<code>name</code>" in html
    ran = member.post("/queries/gov/run/", {"_builder": "1"}, **HX)
    assert ran.status_code == 200, ran.content
    with tenant_context(tenant_a):
        run = QueryRun.objects.get(created_by_id=analyst.user.pk)
        assert run.spec["exclude"] == ["name"]
    connection.set_schema_to_public()
    # Naming it anyway (a forged form) is refused by the service.
    forged = state(member, **{"f-0-dataset": "demographics", "f-0-column": "name", "f-0-op": "not_null"})
    assert forged.status_code == 403 and "identifying" in forged.content.decode().lower()
    grant(analyst.user, "export", dataset="demographics", identifying=True)
    state(member, **{"f-0-dataset": "demographics"})
    assert 'value="name"' in member.get("/queries/gov/").content.decode()


def test_catalog_pages_show_the_callers_level_and_request_links(gov, analyst_at, browser_of, grant) -> None:
    analyst = analyst_at("count")
    grant(analyst.user, "query", dataset="cognitive")
    member = browser_of(analyst.user)
    study = member.get("/studies/gov/").content.decode()
    assert re.search(r'<tr data-dataset="demographics">.*?data-level="count"', study, re.S)
    assert re.search(r'<tr data-dataset="cognitive">.*?data-level="query"', study, re.S)
    assert "/access/request/gov/?dataset=cognitive" in study
    dataset = member.get("/studies/gov/datasets/demographics/").content.decode()
    assert 'data-level-badge="count"' in dataset


def test_study_wide_grants_reach_datasets_added_later(gov, analyst_at, grant, upload, tenant_a) -> None:
    analyst = analyst_at("metadata")
    grant(analyst.user, "query")  # study-wide
    _, ingest = upload("gov", cognitive_csv(), "later", kind="measure")
    assert ingest["status"] == "succeeded"
    with tenant_context(tenant_a):
        codes = set(
            DatasetUserObjectPermission.objects.filter(
                user_id=analyst.user.pk, content_object__name="later"
            ).values_list("permission__codename", flat=True)
        )
    connection.set_schema_to_public()
    assert {"access_count", "access_query"} <= codes and "access_export" not in codes
    assert analyst.post("/api/v1/studies/gov/count", {"columns": {"later": ["score"]}}).status_code == 200


def test_catalog_profile_counts_are_suppressed_below_query(gov, analyst_at, browser_of, upload, steward_api) -> None:
    lines = ["participant_id,session,diagnosis"] + [
        f"P{i:03d},BAS1,{'rare' if i <= 3 else 'common'}" for i in range(1, 61)
    ]
    _, ingest = upload("gov", "\n".join(lines) + "\n", "clinical", kind="measure")
    assert ingest["status"] == "succeeded"

    def counts(caller) -> dict:
        data = caller.get("/api/v1/studies/gov/datasets/clinical").json()
        column = next(c for c in data["latest_version"]["columns"] if c["name"] == "diagnosis")
        return {item["value"]: item["count"] for item in column["top_values"]}

    assert counts(steward_api) == {"common": 57, "rare": 3}
    assert counts(analyst_at("query")) == {"common": 57, "rare": 3}
    counter = analyst_at("count")
    # A value fewer than k participants hold is a small cell by itself (it tells that someone has it): left out
    # entirely; the common one shows the cell-key method's count of its 57 participants.
    shown = counts(counter)
    assert list(shown) == ["common"] and abs(shown["common"] - 57) <= 3
    page = browser_of(counter.user).get("/studies/gov/datasets/clinical/").content.decode()
    assert 'top-values__v">common</span>' in page
    assert 'top-values__v">rare</span>' not in page
    # The builder offers no rare value either: neither as a checkbox nor through the value search.
    builder = browser_of(counter.user).get("/queries/gov/").content.decode()
    assert ">rare<" not in builder and 'value="rare"' not in builder


def test_dictionary_csv_suppresses_small_missing_counts_below_query(gov, analyst_at, upload, steward_api) -> None:
    lines = ["participant_id,session,score"] + [f"P{i:03d},BAS1,{'' if i <= 2 else i}" for i in range(1, 61)]
    _, ingest = upload("gov", "\n".join(lines) + "\n", "scores", kind="measure")
    assert ingest["status"] == "succeeded"

    def missing(caller) -> str:
        response = caller.get("/api/v1/studies/gov/datasets/scores/dictionary.csv")
        assert response.status_code == 200
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        return next(row for row in rows if row["column"] == "score")["missing"]

    assert missing(steward_api) == "2"
    assert missing(analyst_at("query")) == "2"
    assert missing(analyst_at("count")) == ""  # 2 < k: a small cell, written blank
