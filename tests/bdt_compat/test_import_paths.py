"""BDT's three folder layouts with BDT's default config.toml, imported by every path, read the way BDT reads them,
and counted and run with the results BDT's semantics give (computed independently in :mod:`oracle`)."""

from __future__ import annotations

from typing import Any

import pytest
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from tests.bdt_compat.conftest import PATHS
from tests.bdt_compat.oracle import FIXTURES, Layout, normalized

pytestmark = pytest.mark.django_db

LAYOUTS = ("cross_sectional", "longitudinal", "rockland")
MEASURE_RANGE = {
    "cross_sectional": ("cognitive", "working_memory", 100.0, 120.0),
    "longitudinal": ("cognitive", "attention_score", 0.8, 0.95),  # fractions: BDT's int-truncated slider BUG
    "rockland": ("flanker", "accuracy", 0.8, 0.95),
}


def _filter(table: str, column: str, lo: float, hi: float) -> dict[str, Any]:
    return {"dataset": table, "column": column, "op": "between", "value": [lo, hi]}


def scenarios(data: Layout) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(oracle filters, QuerySpec) pairs covering BDT's filter kinds on this layout."""
    table, column, lo, hi = MEASURE_RANGE[data.name]
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({}, {}),
        ({"age": (18.0, 80.0)}, {"filters": [_filter("demographics", "age", 18, 80)]}),
        ({"ranges": [(table, column, lo, hi)]}, {"filters": [_filter(table, column, lo, hi)]}),
        (
            {"age": (18.0, 80.0), "ranges": [(table, column, lo, hi)]},
            {"filters": [_filter("demographics", "age", 18, 80), _filter(table, column, lo, hi)]},
        ),
    ]
    if data.longitudinal:
        cases.append(({"sessions": ["BAS1"]}, {"sessions": ["BAS1"]}))
        cases.append(
            (
                {"sessions": ["BAS2"], "ranges": [(table, column, lo, hi)]},
                {"sessions": ["BAS2"], "filters": [_filter(table, column, lo, hi)]},
            )
        )
    return cases


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_bdt_folder_imports_counts_and_runs_as_bdt_reads_it(
    import_bdt, steward, study_of, execute, path: str, layout: str
) -> None:
    data = Layout(layout)
    result = import_bdt(path, data.folder)
    assert result.created, result.messages
    study = study_of(result.slug)
    assert study is not None and study.demographics.name == "demographics"
    # The header decides: id + session -> longitudinal, id only -> cross-sectional.
    assert study.is_longitudinal is data.longitudinal
    assert (study.id_column, study.age_column, study.sex_column) == ("ursi", "age", "sex")
    assert study.session_column == ("session_num" if data.longitudinal else "")
    # all_sites is in no header: not used, and said so (with the look-alike column where there is one).
    assert study.site_column == "" and "all_sites" in result.messages
    if layout == "rockland":
        assert "all_studies" in result.messages and "looks like a site column" in result.messages
        assert study.composite_id_column == "customID"
    else:
        assert study.composite_id_column == ""
    if layout == "cross_sectional":
        assert "session_num" in result.messages and "cross-sectional" in result.messages
    # [ui] became the builder defaults; the study's keys fit its data.
    assert (study.default_age_min, study.default_age_max, study.display_rows) == (18.0, 80.0, 50)
    shown = steward.get(f"/api/v1/studies/{result.slug}").json()
    assert shown["key_problems"] == [] and shown["longitudinal"] is data.longitudinal
    assert sorted(d["name"] for d in steward.get(f"/api/v1/studies/{result.slug}/datasets").json()["items"]) == sorted(
        ["demographics", *data.measures]
    )

    for filters, spec in scenarios(data):
        response = steward.post(f"/api/v1/studies/{result.slug}/count", spec)
        assert response.status_code == 200, (spec, response.content)
        got = response.json()
        assert (got["participants"], got["rows"]) == data.count(**filters), spec

    picks = {
        name: [c for c in rows[0] if c not in ("ursi", "session_num", "customID")]
        for name, rows in data.measures.items()
    }
    spec = {"filters": [_filter("demographics", "age", 18, 80)], "columns": picks}
    created = steward.post(f"/api/v1/studies/{result.slug}/queries", spec)
    assert created.status_code == 202, created.content
    assert execute(created.json()["id"]) == "succeeded"
    rows = steward.get(f"/api/v1/queries/{created.json()['id']}/rows?page_size=1000").json()
    columns, expected = data.output(picks, age=(18.0, 80.0))
    assert rows["columns"] == columns  # the session column is there for long data; customID never is
    assert normalized(rows["items"]) == expected


@pytest.mark.parametrize("path", PATHS)
def test_a_flat_or_nested_config_reads_the_same(import_bdt, study_of, path: str) -> None:
    data = Layout("longitudinal")
    nested = study_of(import_bdt(path, data.folder, measures=False).slug)
    flat = study_of(import_bdt(path, data.folder, config=FIXTURES / "config_flat.toml", measures=False).slug)
    fields = ("id_column", "session_column", "age_column", "sex_column", "site_column", "composite_id_column")
    fields += ("default_age_min", "default_age_max", "display_rows")
    assert [getattr(nested, f) for f in fields] == [getattr(flat, f) for f in fields]


@pytest.mark.parametrize("path", PATHS)
def test_the_site_column_chosen_explicitly_makes_semicolon_lists_filterable(
    import_bdt, steward, study_of, path: str
) -> None:
    data = Layout("rockland")
    result = import_bdt(path, data.folder, keys={"site_column": "all_studies"})
    assert result.created, result.messages
    assert study_of(result.slug).site_column == "all_studies"
    for sites in (["Discovery"], ["Neurofeedback"], ["Longitudinal_Adult", "Neurofeedback"]):
        got = steward.post(f"/api/v1/studies/{result.slug}/count", {"sites": sites}).json()
        assert (got["participants"], got["rows"]) == data.count(sites=sites), sites  # BDT matched none of these


def test_repairing_the_site_column_is_audited_and_makes_the_site_filter_work(
    import_bdt, steward, tenant_a, study_of
) -> None:
    data = Layout("rockland")
    slug = import_bdt("api", data.folder).slug
    before = steward.post(f"/api/v1/studies/{slug}/count", {"sites": ["Discovery"]})
    assert before.status_code == 422 and before.json()["error"]["code"] == "no_site_column"
    wrong = steward.patch(f"/api/v1/studies/{slug}", {"site_column": "all_sites"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "key_column_not_in_data"
    assert "all_studies" in wrong.json()["error"]["message"]
    fixed = steward.patch(f"/api/v1/studies/{slug}", {"site_column": "all_studies"})
    assert fixed.status_code == 200 and fixed.json()["site_column"] == "all_studies"
    got = steward.post(f"/api/v1/studies/{slug}/count", {"sites": ["Discovery"]}).json()
    assert (got["participants"], got["rows"]) == data.count(sites=["Discovery"]) == (2, 3)
    with tenant_context(tenant_a):
        event = AuditEvent.objects.filter(action="study.updated").latest("id")
        assert event.details["to"] == {"site_column": "all_studies"} and event.details["from"] == {"site_column": ""}
