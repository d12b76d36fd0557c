"""The one type vocabulary: natural order (one case rule everywhere) and value coercion."""

from __future__ import annotations

import datetime as dt

import pytest

from core.column_types import (
    COLUMN_TYPES,
    DUCKDB_TYPES,
    NUMERIC_TYPES,
    CoercionError,
    key_value_from_json,
    natural_sort_key,
    natural_sorted,
    value_from_form,
    value_from_json,
    value_from_toml,
)


def test_natural_order_is_case_insensitive_with_numbers_as_numbers() -> None:
    labels = ["FU12", "fu3", "BAS2", "FU1a", "10", "FU2", "bas1", "1", "FU1", "2"]
    assert natural_sorted(labels) == ["1", "2", "10", "bas1", "BAS2", "FU1", "FU1a", "FU2", "fu3", "FU12"]


def test_natural_order_is_total_labels_differing_in_case_only_keep_a_fixed_order() -> None:
    assert natural_sorted(["fu1", "FU1"]) == natural_sorted(["FU1", "fu1"]) == ["FU1", "fu1"]
    assert natural_sort_key("FU1") != natural_sort_key("fu1")


def test_every_type_has_a_duckdb_type_and_numbers_are_integer_and_float() -> None:
    assert set(DUCKDB_TYPES) == set(COLUMN_TYPES)
    assert {"integer", "float"} == NUMERIC_TYPES


def test_json_values_are_strict() -> None:
    assert value_from_json("2020-01-02", "date", max_text_length=10) == dt.date(2020, 1, 2)
    with pytest.raises(CoercionError, match="does not fit"):
        value_from_json("3", "integer", max_text_length=10)
    with pytest.raises(CoercionError, match="too long"):
        value_from_json("abcdefghijk", "string", max_text_length=10)
    with pytest.raises(CoercionError, match="out of range"):
        value_from_json(2**63, "integer", max_text_length=10)


def test_key_values_accept_text_for_numeric_keys() -> None:
    assert key_value_from_json(" 42 ", "integer", max_text_length=10) == 42
    with pytest.raises(CoercionError, match="not an integer"):
        key_value_from_json("4x", "integer", max_text_length=10)


def test_form_and_toml_values_become_what_the_spec_wants() -> None:
    assert value_from_form(" 17.5 ", "integer") == 17.5 and value_from_form("yes", "boolean") is True
    assert (
        value_from_form("2024-01-02T03:04", "timestamp") == "2024-01-02T03:04:00"
        and value_from_form("  ", "float") is None
    )
    assert value_from_toml("3.0", "integer") == 3 and value_from_toml("no", "boolean") is False
    assert value_from_toml(7, "string") == "7" and value_from_toml(dt.date(2020, 1, 2), "date") == "2020-01-02"
