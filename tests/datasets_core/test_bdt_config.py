"""Reading BDT config.toml files (nested app form, flat import form, JSON) and rejecting broken ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasets.ingest import BdtConfig, IngestError, parse_bdt_config, read_bdt_config

NESTED = """
# BDT's own file
[data]
data_dir = "data"
demographics_file = "Demographics File.csv"
primary_id_column = "ursi"
session_column = "session_num"
composite_id_column = "customID"
age_column = "age"
sex_column = "sex"
study_site_column = "all_studies"

[ui]
default_age_min = 18
default_age_max = 80
max_display_rows = 50

[state]
backend = "client"
ttl_seconds = 3600
"""

FLAT = """
data_dir = "synthetic_data"
demographics_file = "demographics.csv"
primary_id_column = "customID"
age_column = "age"
default_age_selection = [10, 75.5]
unknown_setting = "ignored"
"""


def test_nested_form(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(NESTED)
    config = read_bdt_config(path)
    assert config == BdtConfig(
        data_dir="data",
        demographics_file="Demographics File.csv",
        primary_id_column="ursi",
        session_column="session_num",
        composite_id_column="customID",
        age_column="age",
        sex_column="sex",
        study_site_column="all_studies",
        default_age_min=18.0,
        default_age_max=80.0,
        max_display_rows=50,
        layout="nested",
    )
    assert config.demographics_slug == "demographics_file"
    assert config.study_settings() == {
        "id_column": "ursi",
        "session_column": "session_num",
        "age_column": "age",
        "sex_column": "sex",
        "site_column": "all_studies",
        "composite_id_column": "customID",
    }
    assert config.builder_defaults() == {"default_age_min": 18.0, "default_age_max": 80.0, "display_rows": 50}
    assert config.ignored == ("data.data_dir", "state.backend", "state.ttl_seconds")
    assert config.ignored_notes() == [
        "Ignored data.data_dir: files are uploaded or named on the command line, never read from a configured path.",
        "Ignored state.backend, state.ttl_seconds: query state is kept on the server.",
    ]


def test_flat_form_leaves_unset_keys_unset() -> None:
    config = parse_bdt_config(FLAT)
    assert config.layout == "flat"
    assert config.primary_id_column == "customID"
    assert (config.default_age_min, config.default_age_max) == (10.0, 75.5)
    assert config.session_column is None, "an absent session column means cross-sectional, not 'session_num'"
    filled = config.with_bdt_defaults()
    assert filled.session_column == "session_num" and filled.sex_column == "sex"
    assert filled.primary_id_column == "customID" and filled.study_site_column is None


def test_json_settings_export() -> None:
    config = parse_bdt_config(b'{"primary_id_column": "subject_id", "session_column": "", "max_display_rows": 100}')
    assert config.layout == "json"
    assert config.primary_id_column == "subject_id"
    assert config.session_column is None and config.max_display_rows == 100


def test_top_level_keys_win_over_tables() -> None:
    config = parse_bdt_config('primary_id_column = "flat_id"\n[data]\nprimary_id_column = "nested_id"\n')
    assert config.primary_id_column == "flat_id"


def test_empty_file_and_unrelated_toml() -> None:
    assert parse_bdt_config("").layout == "empty"
    assert parse_bdt_config("[tool.other]\nx = 1\n") == BdtConfig(layout="empty")


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        ('primary_id_column = "ursi"\nage_column = \n', "not valid TOML"),
        ("[data\nx = 1", "line 1"),
        ("primary_id_column = 5", "'primary_id_column' must be text"),
        ("[data]\nsession_column = true", "'session_column' must be text"),
        ("default_age_selection = [10]", "two numbers"),
        ('default_age_min = "old"', "'default_age_min' must be a number"),
        ("max_display_rows = -1", "positive whole number"),
        ('{"primary_id_column": }', "not valid JSON"),
        (b"primary_id_column = '\xff'", "not UTF-8"),
        ('{"a": ' + "[" * 100_000, "more than 64 levels deep"),
        ("a = " + "[" * 100_000, "more than 64 levels deep"),
        ("a = " + "{b = " * 100_000, "more than 64 levels deep"),
        ('[data]\nprimary_id_column = "ursi"\nx = ' + "[" * 65 + "]" * 65, "more than 64 levels deep"),
    ],
)
def test_invalid_config_is_a_clear_error(content: str | bytes, phrase: str) -> None:
    with pytest.raises(IngestError) as info:
        parse_bdt_config(content)
    assert info.value.code == "invalid_config"
    assert phrase in info.value.message


def test_nesting_within_the_limit_and_brackets_in_strings_or_comments_are_fine() -> None:
    brackets = "[" * 200
    text = f"# {brackets}\nprimary_id_column = \"{brackets}\"\nother = '{brackets}'\nx = {'[' * 64}{']' * 64}\n"
    assert parse_bdt_config(text).primary_id_column == brackets


def test_oversized_config_file(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_text("# " + "x" * 2_000_000)
    with pytest.raises(IngestError) as info:
        read_bdt_config(path)
    assert info.value.code == "invalid_config"
