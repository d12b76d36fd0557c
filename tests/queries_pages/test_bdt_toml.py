"""BDT query-parameter TOML <-> QuerySpec (pure functions): round trips, BDT's own files, unknown names."""

from __future__ import annotations

import datetime as dt
import tomllib

from queries.pages.bdt_toml import spec_to_toml, spec_unknown_names, toml_to_spec, toml_value

COLUMNS = {
    "demographics": {
        "participant_id": "string",
        "session": "string",
        "age": "float",
        "sex": "string",
        "site": "string",
        "smoker": "boolean",
    },
    "cognitive": {
        "participant_id": "string",
        "session": "string",
        "working_memory": "float",
        "note": "string",
        "visits": "integer",
    },
    "flanker": {"participant_id": "string", "session": "string", "accuracy": "float"},
}
STUDY = {
    "columns": COLUMNS,
    "demographics": "demographics",
    "age_column": "age",
    "keys": {"participant_id", "session"},
    "has_sites": True,
    "longitudinal": True,
}
NOW = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
SPEC = {
    "filters": [
        {"dataset": "demographics", "column": "age", "op": "between", "value": [17.5, 30.25]},
        {"dataset": "flanker", "column": "accuracy", "op": "between", "value": [0.55, 0.905]},
        {"dataset": "cognitive", "column": "working_memory", "op": "gte", "value": 100},
        {"dataset": "cognitive", "column": "visits", "op": "lte", "value": 3},
        {"dataset": "cognitive", "column": "note", "op": "in", "value": ['say "hi"', "a\\b"]},
        {"dataset": "cognitive", "column": "note", "op": "not_in", "value": ["bad"]},
        {"dataset": "cognitive", "column": "working_memory", "op": "ne", "value": 99.5},
        {"dataset": "flanker", "column": "accuracy", "op": "not_null"},
    ],
    "sites": ["Discovery"],
    "sessions": ["BAS1", "FU1"],
    "participants": ["001", "002"],
    "columns": {"cognitive": ["working_memory", "note"], "flanker": []},
    "shape": "wide",
    "consolidate_baseline": True,
}


def test_round_trip_keeps_every_filter_including_ranges() -> None:
    text = spec_to_toml(SPEC, demographics="demographics", age_column="age", notes="for the paper", now=NOW)
    data = tomllib.loads(text)
    assert data["metadata"]["user_notes"] == "for the paper" and data["metadata"]["format_version"] == "1.0"
    assert data["cohort_filters"] == {
        "age_range": [17.5, 30.25],
        "substudies": ["Discovery"],
        "sessions": ["BAS1", "FU1"],
        "participants": ["001", "002"],
    }
    first = data["phenotypic_filters"][0]
    assert first == {
        "id": 1,
        "table": "flanker",
        "column": "accuracy",
        "filter_type": "range",
        "enabled": True,
        "min_val": 0.55,
        "max_val": 0.905,
    }
    assert data["export_selection"] == {
        "selected_tables": ["cognitive", "flanker"],
        "enwiden_longitudinal": True,
        "consolidate_baseline": True,
        "selected_columns": {"cognitive": ["working_memory", "note"]},
    }
    result = toml_to_spec(text, **STUDY)
    assert result.ok and result.notes == []
    assert result.spec == SPEC


def test_bdt_written_file_with_its_quirks() -> None:
    text = """
[metadata]
export_timestamp = "2024-05-01T10:00:00"
app_version = "1.0.0"

[cohort_filters]
age_range = [18, 80]
substudies = ["Discovery", "Longitudinal_Adult"]

[[phenotypic_filters]]
id = 3
table = "cognitive"
column = "working_memory"
filter_type = "range"
enabled = true
min_val = 90.5
max_val = 120

[[phenotypic_filters]]
id = 4
table = "demographics"
column = "smoker"
filter_type = "categorical"
enabled = true
selected_values = ["Yes"]

[[phenotypic_filters]]
id = 5
table = "cognitive"
column = "visits"
filter_type = "numeric"
enabled = true
min_val = "2"

[[phenotypic_filters]]
id = 6
table = "flanker"
column = "accuracy"
filter_type = "range"
enabled = false
min_val = 0.1
max_val = 0.2

[export_selection]
selected_tables = ["cognitive"]
selected_columns = { cognitive = ["participant_id", "note"] }
enwiden_longitudinal = false
consolidate_baseline = true
"""
    result = toml_to_spec(text, **STUDY)
    assert result.ok, result.errors
    assert result.spec["filters"] == [
        {"dataset": "demographics", "column": "age", "op": "between", "value": [18, 80]},
        {"dataset": "cognitive", "column": "working_memory", "op": "between", "value": [90.5, 120]},
        {"dataset": "demographics", "column": "smoker", "op": "in", "value": [True]},
        {"dataset": "cognitive", "column": "visits", "op": "gte", "value": 2},
    ]
    assert result.spec["sites"] == ["Discovery", "Longitudinal_Adult"]
    assert result.spec["columns"] == {"cognitive": ["note"]}
    assert "shape" not in result.spec and result.spec["consolidate_baseline"] is True
    assert any("disabled" in note for note in result.notes)  # reported, not silently dropped
    assert any("participant_id is always included" in note for note in result.notes)


def test_unknown_tables_and_columns_are_errors() -> None:
    text = """
[[phenotypic_filters]]
table = "questionnaires"
column = "x"
filter_type = "range"
min_val = 1

[[phenotypic_filters]]
table = "cognitive"
column = "missing_col"
filter_type = "categorical"
selected_values = ["a"]

[[phenotypic_filters]]
table = "cognitive"
column = "note"
filter_type = "wavelet"

[export_selection]
selected_tables = ["nowhere"]
selected_columns = { flanker = ["nope"] }
"""
    result = toml_to_spec(text, **STUDY)
    assert not result.ok
    assert len(result.errors) == 5
    assert "unknown table 'questionnaires'" in result.errors[0] and "cognitive" in result.errors[0]
    assert "has no column 'missing_col'" in result.errors[1]
    assert "unsupported filter_type 'wavelet'" in result.errors[2]


def test_invalid_files_and_study_mismatches() -> None:
    assert not toml_to_spec("not = [valid", **STUDY).ok
    assert not toml_to_spec(b"\xff\xfe", **STUDY).ok
    cross = {**STUDY, "longitudinal": False, "has_sites": False, "age_column": None}
    result = toml_to_spec("[cohort_filters]\nage_range = [1, 2]\nsessions = ['BAS1']\nsubstudies = ['A']\n", **cross)
    assert len(result.errors) == 3


def test_json_names_are_checked_and_toml_values_are_escaped() -> None:
    problems = spec_unknown_names(
        {
            "filters": [{"dataset": "nope", "column": "x"}, {"dataset": "flanker", "column": "y"}],
            "columns": {"cognitive": ["zzz"], "gone": []},
        },
        COLUMNS,
    )
    assert len(problems) == 4
    assert toml_value('a"b\\c\n\x01') == '"a\\"b\\\\c\\n\\u0001"'
    assert toml_value(1e20) == "1e+20" and toml_value(2.0) == "2.0" and toml_value({"a b": [1]}) == '{ "a b" = [1] }'
    assert tomllib.loads("x = " + toml_value(["é", 1, 2.5, True]))["x"] == ["é", 1, 2.5, True]
