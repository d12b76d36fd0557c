"""The builder page: what it offers, the live count fragment, structural changes, permissions and empty states."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from datasets.models import Study
from queries.participant_stores import participant_store_build
from tests.conftest import PASSWORD
from tests.queries_pages.conftest import HX

pytestmark = pytest.mark.django_db


def state(client: Client, slug: str = "memory", **fields: object) -> object:
    return client.post(f"/queries/{slug}/state/", {"_builder": "1", **fields}, **HX)


def number(html: str, attribute: str) -> int:
    match = re.search(rf"data-{attribute}>([\d,]+)<", html)
    assert match, html
    return int(match.group(1).replace(",", ""))


def test_builder_offers_real_statistics_sites_and_sessions(analyst, study_ro) -> None:
    response = analyst.get("/queries/memory/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "25.5 – 67.5 in the data" in html  # the age column's real min/max, not integer-truncated
    assert 'name="age_lo" value=""' in html  # optional: inactive until set
    for site in ("Discovery", "Longitudinal_Adult", "Neurofeedback"):
        assert f'name="sites" value="{site}"' in html
    assert "{Discovery" not in html  # cells are split into tokens
    for session in ("BAS1", "FU1"):
        assert f'name="sessions" value="{session}"' in html
    for dataset in ("cognitive", "flanker"):
        assert f'name="out" value="{dataset}"' in html
    assert 'name="cols-cognitive" value="participant_id"' not in html  # key columns are always output
    assert 'value="wide"' in html and "Consolidate baseline" in html and 'consolidate_baseline" checked' not in html


def test_live_count_follows_the_posted_state_and_goes_through_query_count(analyst, study_ro, tenant_a) -> None:
    everyone = analyst.get("/queries/memory/count/", **HX)
    assert everyone.status_code == 200
    assert (number(everyone.content.decode(), "participants"), number(everyone.content.decode(), "rows")) == (4, 6)
    older = state(analyst, age_lo="30", _seq="100")
    assert (number(older.content.decode(), "participants"), number(older.content.decode(), "rows")) == (3, 4)
    sites = state(analyst, age_lo="25.5", age_hi="40.25", sites="Neurofeedback", _seq="200")
    assert number(sites.content.decode(), "participants") == 2  # 002 ({Discovery, Neurofeedback}) and 003
    with tenant_context(tenant_a):
        assert AuditEvent.objects.filter(action="query.count").count() >= 3
    connection.set_schema_to_public()
    assert 'value="40.25"' in analyst.get("/queries/memory/").content.decode()  # stored: reload restores it


def test_invalid_filters_answer_422_with_a_clear_message(analyst, study_ro) -> None:
    backwards = state(analyst, age_lo="50", age_hi="20")
    assert backwards.status_code == 422
    assert "low &lt;= high" in backwards.content.decode() or "low <= high" in backwards.content.decode()
    wrong = state(analyst, **{"f-0-dataset": "flanker", "f-0-column": "accuracy", "f-0-op": "eq", "f-0-value": "x"})
    assert wrong.status_code == 422 and "does not fit a column of type float" in wrong.content.decode()
    unknown = state(analyst, **{"f-0-dataset": "gone", "f-0-column": "x", "f-0-op": "is_null"})
    assert unknown.status_code == 422 and "Unknown dataset" in unknown.content.decode()


def test_incomplete_rows_are_shown_but_not_applied(analyst, study_ro) -> None:
    response = state(analyst, **{"f-0-dataset": "cognitive", "f-0-column": "note", "f-0-op": "in"})
    html = response.content.decode()
    assert response.status_code == 200 and number(html, "participants") == 4
    assert "Filter 1 is not complete" in html
    assert 'id="row-0-hint" hx-swap-oob="outerHTML">Not applied yet: set a value.' in html


def test_structural_actions_rerender_the_rows_and_ask_for_a_recount(analyst, study_ro) -> None:
    added = state(analyst, _action="add_filter")
    assert added.status_code == 200 and added["HX-Trigger-After-Settle"] == '{"qb-recount": {"target": "#builder"}}'
    assert 'id="f-0-dataset"' in added.content.decode() and "autofocus" in added.content.decode()
    picked = state(analyst, _action="row_column", _row="0", **{"f-0-dataset": "flanker", "f-0-column": "accuracy"})
    html = picked.content.decode()
    assert '<option value="between" selected>is in range</option>' in html
    assert 'placeholder="0.55"' in html and 'placeholder="0.905"' in html  # fractions kept
    switched = state(analyst, _action="row_dataset", _row="0", **{"f-0-dataset": "cognitive", "f-0-column": "accuracy"})
    assert 'id="f-0-column"' in switched.content.decode() and "accuracy" not in switched.content.decode()
    values = state(analyst, _action="row_column", _row="0", **{"f-0-dataset": "cognitive", "f-0-column": "note"})
    assert 'name="f-0-values" value="ok"' in values.content.decode()  # the profile's values as checkboxes
    removed = state(analyst, _action="remove_filter", _row="0", **{"f-0-dataset": "cognitive"})
    assert "No phenotypic filters" in removed.content.decode()


def test_a_change_that_outran_a_redraw_redraws_the_rows(analyst, study_ro) -> None:
    # The column was chosen before the page had redrawn the row (no condition field posted yet).
    response = state(analyst, **{"f-0-dataset": "flanker", "f-0-column": "accuracy"})
    html = response.content.decode()
    assert 'id="filters" aria-labelledby="pheno-heading" hx-swap-oob="outerHTML"' in html
    assert '<option value="between" selected>is in range</option>' in html
    settled = state(analyst, **{"f-0-dataset": "flanker", "f-0-column": "accuracy", "f-0-op": "between"})
    assert 'id="filters"' not in settled.content.decode()


def test_value_search_reads_distinct_values(analyst, study_ro) -> None:
    response = analyst.get(
        "/queries/memory/values/",
        {"row": "2", "f-2-dataset": "cognitive", "f-2-column": "note", "f-2-q": "HYPER"},
        **HX,
    )
    assert response.status_code == 200
    assert 'name="f-2-values" value="=HYPERLINK(&quot;x&quot;)"' in response.content.decode()
    assert analyst.get("/queries/memory/values/", {"f-0-dataset": "nope", "f-0-column": "x"}, **HX).status_code == 404


def test_viewers_are_told_why_not(browser, study_ro) -> None:
    viewer = browser("viewer")
    page = viewer.get("/queries/memory/")
    assert page.status_code == 403
    assert "Your role (viewer) may not build queries; it needs analyst or above." in page.content.decode()
    assert viewer.get("/queries/").status_code == 403
    assert viewer.get("/queries/runs/").status_code == 403
    assert state(viewer).status_code == 403
    assert viewer.post("/queries/memory/run/", {"_builder": "1"}, **HX).status_code == 403


def test_studies_of_other_tenants_are_404(browser, study_ro, tenant_b, make_member) -> None:
    outsider = browser("owner", tenant=tenant_b)  # signed in on lab A's host without membership
    assert outsider.get("/queries/memory/").status_code == 403  # not a member of this workspace
    member_b = make_member(tenant_b, "owner")
    client_b = Client(HTTP_HOST=tenant_b.primary_domain_name())
    assert client_b.login(email=member_b.email, password=PASSWORD)
    for path in ("/queries/memory/", "/queries/memory/count/", "/queries/memory/export.toml"):
        assert client_b.get(path).status_code == 404, path
    assert client_b.post("/queries/memory/state/", {"_builder": "1"}).status_code == 404


def test_anonymous_visitors_sign_in_first(host) -> None:
    response = Client(HTTP_HOST=host).get("/queries/memory/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_study_without_data_links_to_its_setup(browser, make_study) -> None:
    make_study("empty")
    steward = browser("steward").get("/queries/empty/")
    assert steward.status_code == 200
    assert (
        "no data to query yet" in steward.content.decode()
        and 'href="/studies/empty/setup/"' in steward.content.decode()
    )
    analyst = browser("analyst").get("/queries/empty/")
    assert "A steward or owner of this workspace uploads the data" in analyst.content.decode()


def test_home_lists_studies_and_the_catalog_links_to_the_builder(analyst, study_ro) -> None:
    home = analyst.get("/queries/")
    assert home.status_code == 200 and 'href="/queries/memory/"' in home.content.decode()
    catalog = analyst.get("/studies/memory/")
    assert 'href="/queries/memory/"' in catalog.content.decode() and "Build a query" in catalog.content.decode()
    assert 'href="/queries/"' in catalog.content.decode()  # the nav link


def test_reset_clears_the_draft(analyst, study_ro) -> None:
    state(analyst, age_lo="30")
    assert analyst.post("/queries/memory/reset/").status_code == 302
    assert 'name="age_lo" value=""' in analyst.get("/queries/memory/").content.decode()


def dropoff_of(html: str, target: str) -> dict[str, str]:
    """The numbers of one drop-off element (``row-0-dropoff``, ``age-dropoff``) of a count answer."""
    match = re.search(rf'<p class="qb-dropoff" id="{target}"[^>]*>(.*?)</p>', html, re.S)
    assert match, html
    return dict(re.findall(r"data-([a-z-]+)>([^<]+)<", match.group(1)))


def test_each_filter_shows_its_live_dropoff_and_inputs_outside_the_data_are_flagged(analyst, study_ro) -> None:
    rows = {
        "f-0-dataset": "cognitive",
        "f-0-column": "working_memory",
        "f-0-op": "between",
        "f-0-lo": "95",
        "f-0-hi": "200",
        "f-1-dataset": "flanker",
        "f-1-column": "accuracy",
        "f-1-op": "between",
        "f-1-lo": "0.5",
        "f-1-hi": "3",
    }
    response = state(analyst, age_lo="30", **rows)
    html = response.content.decode()
    assert response.status_code == 200 and number(html, "participants") == 1  # 002
    # age >= 30 keeps 002, 003, 004 of 4; alone it removes 001 (who passes the other filters)
    assert dropoff_of(html, "age-dropoff") == {"remaining": "3", "removed": "1", "removed-alone": "1"}
    # working memory 95-200 keeps 002 of those; alone it removes 004 (003 has no flanker row: two filters fail)
    assert dropoff_of(html, "row-0-dropoff") == {"remaining": "1", "removed": "2", "removed-alone": "1"}
    assert dropoff_of(html, "row-1-dropoff") == {"remaining": "1", "removed": "0", "removed-alone": "0"}
    assert "Outside the data&#x27;s range (0.55 – 0.905): 0.5, 3." in html
    assert 'id="row-0-dropoff" data-dropoff data-counted hx-swap-oob="outerHTML">' in html
    assert "4 before the filters" in html
    # An incomplete row shows no numbers (it is not applied); the rows after it keep theirs.
    partial = state(analyst, **{"f-0-dataset": "cognitive", "f-0-column": "working_memory", "f-0-op": "between"})
    assert "data-counted" not in re.search(r'id="row-0-dropoff"[^>]*>', partial.content.decode()).group(0)


def test_the_builder_page_has_a_place_for_each_filters_dropoff(analyst, study_ro) -> None:
    state(analyst, age_lo="30", **{"f-0-dataset": "cognitive", "f-0-column": "working_memory", "f-0-op": "not_null"})
    html = analyst.get("/queries/memory/").content.decode()
    assert 'id="age-dropoff"' in html and 'id="row-0-dropoff"' in html


def test_studies_above_the_live_dropoff_limit_get_the_count_alone(
    analyst, study_ro, tenant_a, settings, tmp_path
) -> None:
    settings.BDT_CACHE_DIR = tmp_path / "cache"  # this process's node: no participant index store of the study
    tenant_a.settings = {**(tenant_a.settings or {}), "builder_dropoff_max_rows": 5}  # the study has 6 rows
    tenant_a.save(update_fields=["settings"])
    response = state(analyst, age_lo="30")
    html = response.content.decode()
    assert response.status_code == 200 and number(html, "participants") == 3
    assert "data-dropoff-off" in html and "data-counted" not in html


def test_above_the_limit_a_pre_joined_store_brings_the_live_dropoff_back(
    analyst, study_ro, tenant_a, settings, tmp_path
) -> None:
    """Counts that read the study's pre-joined participant index store need no join: the builder shows each
    filter's drop-off whatever the table's size."""
    settings.BDT_CACHE_DIR = tmp_path / "cache"
    tenant_a.settings = {**(tenant_a.settings or {}), "builder_dropoff_max_rows": 5}
    tenant_a.save(update_fields=["settings"])
    with tenant_context(tenant_a):
        assert participant_store_build(Study.objects.get(slug="memory").pk) == "built"  # what the worker does
    connection.set_schema_to_public()
    response = state(analyst, age_lo="30")
    html = response.content.decode()
    assert response.status_code == 200 and number(html, "participants") == 3
    assert "data-dropoff-off" not in html
    assert 'id="age-dropoff" data-dropoff data-counted' in html
    assert "4 before the filters" in html
