"""The translation of filters on variables into filters on a study's column (no database)."""

from __future__ import annotations

import pytest

from harmonization.mapping import NO_MATCH, MappingError, Source, Variable, definition_problems, source_filter

MONTHS = Source(study="s", dataset="d", column="age_months", scale=1 / 12)
AGE = Variable(name="age", type="number", sources=(MONTHS,))
CODED = Source(study="s", dataset="d", column="sex", recode={"1": "female", "2": "male"})
SEX = Variable(name="sex", type="string", sources=(CODED,))


def test_inverse_transform_is_exact_for_round_numbers() -> None:
    assert source_filter(AGE, MONTHS, "integer", "eq", 5) == {
        "dataset": "d",
        "column": "age_months",
        "op": "eq",
        "value": 60,
    }
    assert source_filter(AGE, MONTHS, "integer", "between", [60, 70]) == {
        "dataset": "d",
        "column": "age_months",
        "op": "between",
        "value": [720, 840],
    }
    assert source_filter(AGE, MONTHS, "integer", "eq", 5.01) is NO_MATCH  # never an integer number of months
    assert source_filter(AGE, MONTHS, "integer", "ne", 5.01)["op"] == "not_null"
    assert source_filter(AGE, MONTHS, "integer", "in", [5, 5.01])["value"] == [60]


def test_negative_scale_flips_ranges() -> None:
    flipped = Source(study="s", dataset="d", column="c", scale=-2, offset=10)
    variable = Variable(name="v", type="number", sources=(flipped,))
    assert source_filter(variable, flipped, "float", "gt", 4)["op"] == "lt"  # -2c + 10 > 4  <=>  c < 3
    assert source_filter(variable, flipped, "float", "gt", 4)["value"] == 3
    assert source_filter(variable, flipped, "float", "between", [0, 4])["value"] == [3, 5]


def test_recodes_become_preimages() -> None:
    assert source_filter(SEX, CODED, "integer", "eq", "female")["value"] == [1]
    assert source_filter(SEX, CODED, "integer", "ne", "female")["value"] == [2]
    assert source_filter(SEX, CODED, "integer", "in", ["other"]) is NO_MATCH
    assert source_filter(SEX, CODED, "integer", "not_null", None) == {
        "dataset": "d",
        "column": "sex",
        "op": "in",
        "value": [1, 2],
    }
    with pytest.raises(MappingError):
        source_filter(SEX, CODED, "integer", "gt", "a")


def test_definition_problems_name_what_is_wrong() -> None:
    profile = {"type": "integer", "distinct": 3, "min": 1, "max": 3}
    problems = definition_problems(SEX, {"s/d/sex": profile})
    assert [p["code"] for p in problems] == ["recode_incomplete"] and problems[0]["uncovered"] == ["3"]
    assert definition_problems(SEX, {"s/d/sex": {**profile, "distinct": 2, "max": 2}}) == []
    wide = {"type": "string", "distinct": 40, "top_values": [{"value": "x", "count": 1}]}
    text = Variable(name="t", type="string", sources=(Source("s", "d", "c", recode={"x": "y"}),))
    assert definition_problems(text, {"s/d/c": wide})[0]["code"] == "recode_unverifiable"
