"""QuerySpec validation (every error code), injection payloads, canonical hashing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from queries.core.catalog import StudyCatalog
from queries.core.engines.contract import DataEngine
from queries.core.spec import QuerySpec, SpecError, SpecLimits, spec_hash, spec_parse, spec_validate

PAYLOADS = [
    "'; DROP TABLE demographics; --",
    "x' UNION SELECT password FROM users --",
    "/**/",
    "`age`",
    "age＇；",
    "\u202eega",
    "EXEC xp_cmdshell 'dir'",
    "age\u00a0",
    "age\u180e",
    'age" FROM x; --',
    "age\\",
    "100%s",
    "%(x)s %% _",
]


def f(dataset: str, column: str, op: str, value: Any = None) -> dict[str, Any]:
    d: dict[str, Any] = {"dataset": dataset, "column": column, "op": op}
    if value is not None:
        d["value"] = value
    return d


def code_of(spec: Any, catalog: StudyCatalog, limits: SpecLimits | None = None) -> SpecError:
    with pytest.raises(SpecError) as info:
        spec_validate(spec, catalog, limits)
    return info.value


INVALID: list[tuple[str, str, Any]] = [
    # (study, expected code, spec)
    ("xs", "invalid_spec", {"filter": []}),
    ("xs", "invalid_spec", {"filters": [{**f("subjects", "age", "gt", 1), "extra": 1}]}),
    ("xs", "invalid_spec", {"filters": [f("subjects", "age", "like", "1")]}),
    ("xs", "invalid_spec", {"shape": "tall"}),
    ("xs", "invalid_spec", {"filters": [f("subjects", "age", "eq", {"a": 1})]}),
    ("xs", "invalid_spec", {"filters": {"dataset": "subjects"}}),
    ("xs", "invalid_spec", {"consolidate_baseline": "yes"}),
    ("xs", "invalid_spec", {"columns": {"cognitive": "memory"}}),
    ("xs", "invalid_spec", '{"filters": ['),
    ("xs", "unknown_dataset", {"filters": [f("nope", "age", "gt", 1)]}),
    ("xs", "unknown_dataset", {"columns": {"nope": ["x"]}}),
    ("xs", "unknown_column", {"filters": [f("cognitive", "nope", "gt", 1)]}),
    ("xs", "unknown_column", {"columns": {"cognitive": ["memory", "nope"]}}),
    ("xs", "unknown_column", {"filters": [f("subjects", "memory", "gt", 1)]}),  # exists, but in another dataset
    ("xs", "invalid_value", {"filters": [f("subjects", "age", "gt", "30")]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "sex", "eq", True)]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "site", "eq", 3)]}),
    ("xs", "invalid_value", {"filters": [f("cognitive", "dropout", "eq", 2)]}),
    ("xs", "invalid_value", {"filters": [f("cognitive", "dropout", "eq", "maybe")]}),
    ("xs", "invalid_value", {"filters": [f("cognitive", "dropout", "in", ["yes", "sometimes"])]}),
    ("xs", "invalid_value", {"filters": [f("cognitive", "dropout", "eq", 1.0)]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "age", "between", [1])]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "age", "between", [1, 2, 3])]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "age", "between", [30.5, 30.25])]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "age", "between", 30)]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "age", "between", [None, 3])]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "site", "in", [])]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "site", "in", ["a", None])]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "site", "in", "Discovery")]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "site", "is_null", "x")]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "site", "eq", ["a"])]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "site", "eq")]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "site", "eq", "a\x00b")]}),
    ("xs", "invalid_value", {"filters": [f("subjects", "sex", "eq", 2**70)]}),
    ("xs", "invalid_value", {"filters": [f("cognitive", "visit_date", "gt", "15/01/2020")]}),
    ("xs", "invalid_value", {"filters": [f("cognitive", "visit_date", "gt", 20200115)]}),
    ("xs", "invalid_value", {"sites": ["Discovery;Longitudinal_Adult"]}),
    ("xs", "invalid_value", {"sites": [""]}),
    ("xs", "invalid_operator", {"filters": [f("subjects", "site", "gt", "A")]}),
    ("xs", "invalid_operator", {"filters": [f("cognitive", "dropout", "between", [False, True])]}),
    ("xs", "not_longitudinal", {"sessions": ["BAS1"]}),
    ("vs", "no_site_column", {"sites": ["A"]}),
    ("vs", "invalid_value", {"participants": ["P01"]}),
    ("vs", "invalid_value", {"sessions": ["BAS1"]}),
    ("xs", "key_column", {"filters": [f("subjects", "participant_id", "eq", "P01")]}),
    ("xs", "key_column", {"filters": [f("cognitive", "participant_id", "eq", "P01")]}),
    ("rk", "key_column", {"filters": [f("rockland_demo", "session_num", "eq", "BAS1")]}),
    ("rk", "key_column", {"columns": {"cog": ["session_num"]}}),
    ("rk", "key_column", {"columns": {"genetics": ["ursi"]}}),
]


@pytest.mark.parametrize(("study", "code", "spec"), INVALID, ids=[f"{i}-{c}" for i, (_, c, _) in enumerate(INVALID)])
def test_invalid_specs_raise_the_right_code(
    catalogs: dict[str, StudyCatalog], study: str, code: str, spec: Any
) -> None:
    err = code_of(spec, catalogs[study])
    assert err.code == code, err.message
    assert err.message and "\x00" not in err.message
    json.dumps(err.details)  # JSON-safe


def test_python_nan_is_rejected(catalogs: dict[str, StudyCatalog]) -> None:
    assert code_of({"filters": [f("subjects", "age", "gt", float("nan"))]}, catalogs["xs"]).code == "invalid_value"
    assert code_of({"filters": [f("subjects", "age", "lt", float("inf"))]}, catalogs["xs"]).code == "invalid_value"


def test_unknown_column_message_names_the_dataset(catalogs: dict[str, StudyCatalog]) -> None:
    err = code_of({"filters": [f("cognitive", "nope", "gt", 1)]}, catalogs["xs"])
    assert "cognitive" in err.message and err.details["dataset"] == "cognitive"
    assert err.details["filter_index"] == 0


def test_limits(catalogs: dict[str, StudyCatalog]) -> None:
    limits = SpecLimits(max_filters=1, max_list_values=2, max_participants=2)
    cat = catalogs["xs"]
    assert code_of({"participants": ["a", "b", "c"]}, cat, limits).code == "too_large"
    assert code_of({"filters": [f("subjects", "age", "gt", 1)] * 2}, cat, limits).code == "too_large"
    assert code_of({"filters": [f("subjects", "site", "in", ["a", "b", "c"])]}, cat, limits).code == "too_large"


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("yes", True),
        ("No", False),
        ("Y", True),
        ("n", False),
        ("TRUE", True),
        ("false", False),
        ("1", True),
        (" 0 ", False),
        (1, True),
        (0, False),
        (True, True),
        (False, False),
    ],
)
def test_boolean_values_as_data_files_spell_them(catalogs: dict[str, StudyCatalog], written: Any, meant: bool) -> None:
    v = spec_validate({"filters": [f("cognitive", "dropout", "eq", written)]}, catalogs["xs"])
    assert v.filters[0].values == (meant,)
    listed = spec_validate({"filters": [f("cognitive", "dropout", "in", [written, "no"])]}, catalogs["xs"])
    assert set(listed.filters[0].values) == {meant, False}


def test_boolean_error_names_the_accepted_spellings(catalogs: dict[str, StudyCatalog]) -> None:
    err = code_of({"filters": [f("cognitive", "dropout", "eq", "maybe")]}, catalogs["xs"])
    assert "yes/no" in err.message and "1/0" in err.message


def test_valid_spec_coerces_and_resolves(catalogs: dict[str, StudyCatalog]) -> None:
    v = spec_validate(
        {
            "filters": [
                f("cognitive", "visit_date", "between", ["2020-01-01", "2020-12-31"]),
                f("subjects", "sex", "gt", 1.5),  # fractions are fine on integer columns
                f("behaviour", "task", "in", ["a", "b", "a"]),
            ],
            "columns": {"behaviour": ["rt", "rt", "task"], "subjects": ["age"]},
        },
        catalogs["xs"],
    )
    assert str(v.filters[0].values[0]) == "2020-01-01"
    assert v.filters[2].values == ("a", "b")
    assert v.picks == (("behaviour", ("rt", "task")),)  # demographics picks are implied; duplicates dropped
    assert v.joined == ("behaviour", "cognitive") and v.filter_datasets == ("behaviour", "cognitive")
    vs = spec_validate({"participants": ["1", 2, " 3 "], "sessions": ["2", 2]}, catalogs["vs"])
    assert vs.participants == (1, 2, 3) and vs.sessions == (2,)


def test_timestamps_must_be_naive(catalogs: dict[str, StudyCatalog]) -> None:
    from queries.core.spec import coerce_value

    where: dict[str, Any] = {}
    assert str(coerce_value("2020-01-02T03:04:05", "timestamp", SpecLimits(), where)) == "2020-01-02 03:04:05"
    with pytest.raises(SpecError):
        coerce_value("2020-01-02T03:04:05+02:00", "timestamp", SpecLimits(), where)


# --- injection ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [*PAYLOADS, "age\x00"])
def test_injection_in_names_is_an_unknown_name(catalogs: dict[str, StudyCatalog], payload: str) -> None:
    cat = catalogs["xs"]
    assert code_of({"filters": [f(payload, "age", "gt", 1)]}, cat).code == "unknown_dataset"
    assert code_of({"columns": {payload: ["age"]}}, cat).code == "unknown_dataset"
    assert code_of({"filters": [f("subjects", payload, "gt", 1)]}, cat).code == "unknown_column"
    err = code_of({"columns": {"cognitive": [payload]}}, cat)
    assert err.code == "unknown_column"
    assert "\u202e" not in err.message and "\x00" not in err.message  # control characters are escaped


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_in_values_is_plain_data(engine: DataEngine, catalogs: dict[str, StudyCatalog], payload: str) -> None:
    xs, rk = catalogs["xs"], catalogs["rk"]
    assert (
        engine.count(spec_validate({"filters": [f("subjects", "group by", "eq", payload)]}, xs), xs).participants == 0
    )
    spec = {"filters": [f("behaviour", "task", "in", [payload, "flanker"])]}
    assert (
        engine.count(spec_validate(spec, xs), xs).participants == 4
    )  # the payload is just one more value that matches nothing
    assert (
        engine.count(spec_validate({"filters": [f("subjects", "site", "not_in", [payload])]}, xs), xs).participants
        == 10
    )
    assert engine.count(spec_validate({"participants": [payload, "P01"]}, xs), xs).participants == 1
    assert engine.count(spec_validate({"sessions": [payload]}, rk), rk).rows == 0
    # numbers never take strings
    assert code_of({"filters": [f("subjects", "age", "gt", payload)]}, xs).code == "invalid_value"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_in_sites_is_rejected_or_inert(
    engine: DataEngine, catalogs: dict[str, StudyCatalog], payload: str
) -> None:
    try:
        spec_validate({"sites": [payload]}, catalogs["xs"])
    except SpecError as err:
        assert err.code == "invalid_value"  # contains a separator: not a single site token
        return
    assert engine.count(spec_validate({"sites": [payload]}, catalogs["xs"]), catalogs["xs"]).participants == 0


def test_nul_in_values_is_rejected(catalogs: dict[str, StudyCatalog]) -> None:
    cat = catalogs["xs"]
    assert code_of({"participants": ["P01\x00"]}, cat).code == "invalid_value"
    assert code_of({"filters": [f("behaviour", "task", "in", ["a\x00"])]}, cat).code == "invalid_value"
    assert code_of({"filters": [f("behaviour", "task", "eq", "\ud800")]}, cat).code == "invalid_value"


# --- hashing ------------------------------------------------------------------------------------------------

BASE = {
    "filters": [f("behaviour", "task", "in", ["a", "b", "c"]), f("subjects", "age", "between", [1, 2.5])],
    "sites": ["X", "Y"],
    "sessions": [],
    "participants": ["P1", "P2"],
    "columns": {"behaviour": ["rt", "task"], "cognitive": ["memory"]},
}


def test_hash_ignores_order_where_semantics_do() -> None:
    same = {
        "participants": ["P2", "P1", "P2"],
        "sites": ["Y", "X"],
        "filters": [f("behaviour", "task", "in", ["c", "a", "b", "a"]), f("subjects", "age", "between", [1.0, 2.5])],
        "columns": {"behaviour": ["rt", "task"], "cognitive": ["memory"]},
        "shape": "long",
        "consolidate_baseline": True,  # irrelevant for long output
    }
    h = spec_hash(BASE)
    assert len(h) == 64 and int(h, 16) >= 0
    assert spec_hash(same) == h
    assert spec_hash(json.dumps(BASE)) == h == spec_hash(QuerySpec.model_validate(BASE))


@pytest.mark.parametrize(
    "change",
    [
        {"filters": list(reversed(BASE["filters"]))},  # report order
        {"columns": {"cognitive": ["memory"], "behaviour": ["rt", "task"]}},  # output order
        {"columns": {"behaviour": ["task", "rt"], "cognitive": ["memory"]}},
        {"shape": "wide"},
        {"sites": ["X"]},
        {"filters": [f("behaviour", "task", "in", ["a", "b"]), f("subjects", "age", "between", [1, 2.5])]},
        {"filters": [f("behaviour", "task", "not_in", ["a", "b", "c"]), f("subjects", "age", "between", [1, 2.5])]},
    ],
)
def test_hash_changes_with_meaning(change: dict[str, Any]) -> None:
    assert spec_hash({**BASE, **change}) != spec_hash(BASE)


def test_hash_of_wide_consolidation_counts() -> None:
    wide = {**BASE, "shape": "wide"}
    assert spec_hash({**wide, "consolidate_baseline": True}) != spec_hash(wide)


def test_parse_rejects_with_invalid_spec() -> None:
    with pytest.raises(SpecError) as info:
        spec_parse({"filters": [{"dataset": 1, "column": "a", "op": "eq"}]})
    assert info.value.code == "invalid_spec" and info.value.details["errors"]
