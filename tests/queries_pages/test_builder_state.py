"""The builder's state: form fields -> state -> QuerySpec -> state, the draft, site tokens and value options."""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import QueryDict
from django_tenants.utils import tenant_context

from datasets.models import Study
from queries.core.spec import spec_parse
from queries.models import SavedQuery
from queries.pages.builder import (
    BuilderState,
    FilterRow,
    draft_state,
    draft_store,
    form_to_state,
    parse_ids,
    parse_value,
    spec_to_state,
    state_apply_action,
    state_to_spec,
)
from queries.pages.builder_schema import distinct_values, site_options, site_tokens_of, value_options

pytestmark = pytest.mark.django_db


def form(**fields: object) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            data.appendlist(key.replace("__", "-"), str(item))
    return data


FULL_FORM = {
    "age_lo": "30.5",
    "age_hi": "",
    "sites": ["Discovery", "Neurofeedback"],
    "sessions": ["BAS1"],
    "participants": "001\n002, 003;003",
    "f__0__dataset": "flanker",
    "f__0__column": "accuracy",
    "f__0__op": "between",
    "f__0__lo": "0.55",
    "f__0__hi": "0.905",
    "f__1__dataset": "cognitive",
    "f__1__column": "note",
    "f__1__op": "in",
    "f__1__values": ["ok", "+1 more"],
    "f__2__dataset": "cognitive",
    "f__2__column": "working_memory",
    "f__2__op": "between",
    "f__2__lo": "",
    "f__2__hi": "100",
    "f__3__dataset": "cognitive",
    "f__3__column": "working_memory",
    "f__3__op": "not_null",
    "f__4__dataset": "cognitive",
    "f__4__column": "note",
    "f__4__op": "in",  # no value chosen yet
    "f__5__dataset": "demographics",  # no column yet
    "out": ["cognitive", "flanker"],
    "cols__cognitive": ["working_memory", "note"],
    "cols__flanker": [],
    "shape": "wide",
    "consolidate_baseline": "on",
}


def test_form_state_spec_round_trip(study_ro, schema_of) -> None:
    schema = schema_of(study_ro)
    state = form_to_state(form(**FULL_FORM), schema)
    assert state.age_lo == 30.5 and state.age_hi is None  # decimals kept, one-sided range
    assert state.participants == ["001", "002", "003"]
    assert state.columns == {"cognitive": ["working_memory", "note"], "flanker": []}
    spec = state_to_spec(state, schema)
    assert spec["filters"] == [
        {"dataset": "demographics", "column": "age", "op": "gte", "value": 30.5},
        {"dataset": "flanker", "column": "accuracy", "op": "between", "value": [0.55, 0.905]},
        {"dataset": "cognitive", "column": "note", "op": "in", "value": ["ok", "+1 more"]},
        {"dataset": "cognitive", "column": "working_memory", "op": "lte", "value": 100},
        {"dataset": "cognitive", "column": "working_memory", "op": "not_null"},
    ]  # rows 5 and 6 are not complete: left out of the spec, kept in the state
    assert spec["sites"] == ["Discovery", "Neurofeedback"] and spec["sessions"] == ["BAS1"]
    assert spec["shape"] == "wide" and spec["consolidate_baseline"] is True
    spec_parse(spec)  # a real QuerySpec
    again = spec_to_state(spec, schema)
    complete = BuilderState(**{**state.__dict__, "filters": [f for f in state.filters if f.complete]})
    assert again == complete
    assert state_to_spec(again, schema) == spec


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"filters": [{"dataset": "demographics", "column": "age", "op": "between", "value": [17.5, 30.25]}]},
        {"filters": [{"dataset": "demographics", "column": "age", "op": "lte", "value": 40}]},
        {
            "filters": [
                {"dataset": "demographics", "column": "age", "op": "gte", "value": 20},
                {"dataset": "demographics", "column": "age", "op": "between", "value": [1, 2]},
                {"dataset": "cognitive", "column": "working_memory", "op": "gt", "value": 99.5},
                {"dataset": "cognitive", "column": "note", "op": "not_in", "value": ["ok"]},
                {"dataset": "cognitive", "column": "note", "op": "eq", "value": "x"},
                {"dataset": "flanker", "column": "accuracy", "op": "is_null"},
                {"dataset": "flanker", "column": "accuracy", "op": "in", "value": [0.55, 0.7]},
            ]
        },
        {"sites": ["Discovery"], "sessions": ["FU1"], "participants": ["004"], "columns": {"flanker": []}},
        {"columns": {"cognitive": ["note", "working_memory"]}, "shape": "wide", "consolidate_baseline": True},
    ],
)
def test_spec_state_spec_is_identity(study_ro, schema_of, spec) -> None:
    schema = schema_of(study_ro)
    assert state_to_spec(spec_to_state(spec, schema), schema) == spec


def test_a_run_spec_with_every_default_loads(study_ro, schema_of) -> None:
    schema = schema_of(study_ro)
    dumped = spec_parse({"filters": [{"dataset": "flanker", "column": "accuracy", "op": "is_null"}]}).model_dump()
    state = spec_to_state(dumped, schema)
    assert state.filters == [FilterRow(dataset="flanker", column="accuracy", op="is_null")]
    assert state_to_spec(state, schema) == {"filters": [{"dataset": "flanker", "column": "accuracy", "op": "is_null"}]}


def test_values_are_typed_and_never_truncated() -> None:
    assert parse_value("67.5", "float") == 67.5
    assert parse_value("17.5", "integer") == 17.5  # fractions allowed on integer columns
    assert parse_value("3", "float") == 3
    assert parse_value("abc", "float") == "abc"  # left for the spec to report
    assert parse_value(" ", "float") is None
    assert parse_value("Yes", "boolean") is True and parse_value("false", "boolean") is False
    assert parse_value("2024-01-02T03:04", "timestamp") == "2024-01-02T03:04:00"
    assert parse_ids(" a1, b2\n\nc3;a1 ") == ["a1", "b2", "c3"]


def test_structural_actions_reset_dependent_choices(study_ro, schema_of) -> None:
    schema = schema_of(study_ro)
    state = form_to_state(form(**FULL_FORM), schema)
    state.filters[0].dataset = "cognitive"  # the user picked another table in row 1
    state = state_apply_action(state, "row_dataset", 0, schema)
    assert state.filters[0] == FilterRow(dataset="cognitive")
    state.filters[0].column = "note"
    state = state_apply_action(state, "row_column", 0, schema)
    assert state.filters[0] == FilterRow(dataset="cognitive", column="note", op="in")
    state = state_apply_action(state, "remove_filter", 1, schema)
    assert len(state.filters) == 5
    state = state_apply_action(state, "add_filter", None, schema)
    assert state.filters[-1] == FilterRow()
    state = state_apply_action(state, "clear_age", None, schema)
    assert not state.age_active
    assert state_apply_action(state, "clear_filters", None, schema).filters == []


def test_draft_keeps_incomplete_rows_and_ignores_stale_requests(study_ro, schema_of, tenant_a, make_member) -> None:
    user = make_member(tenant_a, "analyst")
    schema = schema_of(study_ro)
    state = form_to_state(form(**FULL_FORM), schema)
    with tenant_context(tenant_a):
        target = Study.objects.get(slug=study_ro)
        assert draft_store(target, user, state, schema, seq=1_000_000)
        assert draft_state(target, user, schema) == state  # incomplete rows included
        draft = SavedQuery.objects.get(study=target, owner=user, is_draft=True)
        assert draft.spec == state_to_spec(state, schema)  # the draft's spec is the complete part
        assert not draft_store(target, user, BuilderState(), schema, seq=999_000)  # older request: ignored
        assert draft_state(target, user, schema) == state
        assert draft_store(target, user, BuilderState(), schema, seq=1_000_001)
        assert draft_state(target, user, schema) == BuilderState()
        assert SavedQuery.objects.filter(owner=user, is_draft=True).count() == 1
    connection.set_schema_to_public()


def test_site_tokens_cover_every_separator_style(study_ro, schema_of) -> None:
    assert site_tokens_of(["{Discovery, Neurofeedback}", "A;B", "C D", '["E","F"]', "'G'"]) == [
        "A",
        "B",
        "C",
        "D",
        "Discovery",
        "E",
        "F",
        "G",
        "Neurofeedback",
    ]
    assert site_options(schema_of(study_ro)) == ["Discovery", "Longitudinal_Adult", "Neurofeedback"]


def test_site_and_value_options_are_read_from_parquet_when_the_profile_is_partial(
    make_study, upload, schema_of, tenant_a
) -> None:
    make_study("many", site_column="site")
    rows = "".join(f"P{i:02d},BAS1,Site{i:02d};Common,v{i:02d},w{i % 30:02d}\n" for i in range(1, 61))
    header = "participant_id,session,site,label,group\n"
    _, ingest = upload("many", header + rows, "demographics", kind="demographics")
    assert ingest["status"] == "succeeded"
    schema = schema_of("many")
    with tenant_context(tenant_a):
        sites = site_options(schema)
        assert len(sites) == 61 and sites[0] == "Common" and sites[-1] == "Site60"
        options, complete = value_options(schema, "demographics", "group")
        assert complete and len(options) == 30  # the profile lists 10; all 30 are read from the file
        options, complete = value_options(schema, "demographics", "label")
        assert not complete  # 60 values: offered by search (distinct_values with a search term)
        found = distinct_values(schema.datasets["demographics"].version, "label", search="V5")
        assert found == [f"v{n}" for n in range(50, 60)]  # any case, sorted
    connection.set_schema_to_public()
