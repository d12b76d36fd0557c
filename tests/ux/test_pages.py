"""What a member sees around governance: links only to pages their role may open, the console's pending-request
badge and settings tab, builder wording for count-only members, the request form's guidance, and readable history."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def _nav(html: str) -> str:
    return html.split('<nav class="mainnav"', 1)[1].split("</nav>", 1)[0]


def test_viewers_are_not_offered_pages_they_cannot_open(gov, api, browser_of, tenant_a) -> None:
    viewer = browser_of(api(tenant_a, "viewer").user)
    home = viewer.get("/").content.decode()
    assert 'href="/queries/"' not in _nav(home) and "Build a query" not in home
    study = viewer.get("/studies/gov/").content.decode()
    assert 'href="/queries/gov/"' not in study
    assert viewer.get("/queries/gov/").status_code == 403  # what the hidden links led to

    form = viewer.get("/access/request/gov/").content.decode()
    assert "data-cannot-request" in form and "Viewers see catalog metadata only" in form
    assert 'name="purpose"' not in form


def test_console_shows_how_many_requests_wait(gov, api, analyst_at, browser_of, tenant_a) -> None:
    analyst = analyst_at("count")
    steward = browser_of(api(tenant_a, "steward").user)
    assert "data-pending-requests" not in steward.get("/").content.decode()
    made = analyst.post(
        "/api/v1/access-requests",
        {"study": "gov", "datasets": ["cognitive"], "level": "query", "purpose": "Scores by age."},
    )
    assert made.status_code == 201, made.content
    page = steward.get("/studies/").content.decode()
    assert re.search(r'data-pending-requests="1">1<', _nav(page))
    assert 'aria-label="Console: 1 pending request"' in page
    console = steward.get("/console/requests/").content.decode()
    assert 'aria-label="1 pending"' in console
    requester = browser_of(analyst.user).get("/").content.decode()
    assert "data-pending-requests" not in requester and 'href="/console/"' not in requester

    refused = browser_of(analyst.user).get("/console/requests/")
    assert refused.status_code == 403 and "The console is for stewards and owners." in refused.content.decode()


def test_count_only_builder_says_why_there_is_no_output(gov, analyst_at, browser_of) -> None:
    html = browser_of(analyst_at("count").user).get("/queries/gov/").content.decode()
    assert "data-no-output" in html and "need the query level on the demographics table" in html
    assert "This study has only its demographics table" not in html  # it has a measure table, just not for rows
    assert "data-no-outputs" in html
    link = re.search(r'href="(/access/request/gov/\?[^"]*)" data-request-access', html)
    assert link and not link.group(1).endswith("&amp;") and "dataset=cognitive" in link.group(1)


def test_request_form_explains_that_results_need_the_demographics_table(gov, analyst_at, browser_of) -> None:
    form = browser_of(analyst_at("count").user).get("/access/request/gov/?dataset=cognitive").content.decode()
    assert "data-demographics-hint" in form and "<code>demographics</code>" in form


def test_history_names_related_objects_instead_of_ids(gov, analyst_at, api, browser_of, tenant_a) -> None:
    analyst = analyst_at("query")  # a study-wide grant on "gov" (study name "Gov")
    steward = browser_of(api(tenant_a, "steward").user)
    page = steward.get("/audit/history/?kind=grant").content.decode()
    label = f"created grant <code>query on all of Gov for {analyst.user.email}</code>"
    assert label in page, page
    grant_rows = page.split(label, 1)[1].split("</table>", 1)[0]
    assert "<ins>Gov</ins>" in grant_rows and f"<ins>{analyst.user.email}</ins>" in grant_rows
    assert not re.search(r"<ins>\d+</ins>", grant_rows)  # no bare ids
    assert not re.search(r">[^<]*\+00:00", page)  # dates as people read them (not ISO with an offset)


def test_audit_events_without_details_show_a_dash(gov, api, browser_of, tenant_a) -> None:
    steward = browser_of(api(tenant_a, "steward").user)
    page = steward.get("/audit/?action=auth.").content.decode() + steward.get("/audit/").content.decode()
    assert ">0 fields<" not in page
    assert "<dd>None</dd>" not in page and "<dd>False</dd>" not in page  # details as words, not Python values
    assert re.search(r"When <span class=\"muted\">\(\w+\)</span>", page)


def test_console_settings_owners_change_them_stewards_read_them(api, browser_of, tenant_a) -> None:
    owner = browser_of(api(tenant_a, "owner").user)
    steward = browser_of(api(tenant_a, "steward").user)

    page = steward.get("/console/settings/").content.decode()
    assert 'data-setting="count_budget_result_sets"' in page and "Only owners can change them." in page
    assert "Save settings" not in page and 'name="setting-count_budget_result_sets"' in page
    refused = steward.post(
        "/console/settings/", {"setting-count_budget_result_sets": "7"}, follow=True
    ).content.decode()
    assert "Your role (steward) may not change the workspace settings; it needs owner or above." in refused
    assert 'value="7"' not in refused

    saved = owner.post("/console/settings/", {"setting-count_budget_result_sets": "7"}, follow=True).content.decode()
    assert "Saved: Different questions a count-only analyst may ask." in saved
    row = saved.split('data-setting="count_budget_result_sets"', 1)[1].split("</tr>", 1)[0]
    assert "<strong data-effective>7</strong>" in row and 'value="7"' in row

    bad = owner.post("/console/settings/", {"setting-count_budget_result_sets": "seven"}, follow=True).content.decode()
    assert "Invalid setting: count_budget_result_sets" in bad and "must be of type int" in bad
    same = owner.post("/console/settings/", {"setting-count_budget_result_sets": "7"}, follow=True).content.decode()
    assert "Nothing changed." in same

    reset = owner.post("/console/settings/", {"setting-count_budget_result_sets": ""}, follow=True).content.decode()
    row = reset.split('data-setting="count_budget_result_sets"', 1)[1].split("</tr>", 1)[0]
    assert 'value=""' in row
    assert browser_of(api(tenant_a, "analyst").user).get("/console/settings/").status_code == 403
