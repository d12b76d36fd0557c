"""BDT bugs (bdt-reference §3, §5) that must not come back. Each test names the BDT behaviour it guards against."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from queries.core.catalog import ColumnInfo, DatasetInfo, StudyCatalog, StudyKeys
from queries.core.engines.contract import DataEngine, report_rows
from queries.core.spec import SpecError, spec_validate


def run(
    engine: DataEngine, spec: dict[str, Any], cat: StudyCatalog, tmp_path: Path
) -> tuple[list[str], list[dict[str, Any]]]:
    out = tmp_path / "r.parquet"
    engine.run(spec_validate(spec, cat), cat, out)
    table = pq.read_table(out)
    return table.column_names, table.to_pylist()


def ids(rows: list[dict[str, Any]], key: str) -> list[Any]:
    return sorted({r[key] for r in rows}, key=str)


def test_any_id_column_and_demographics_name(
    engine: DataEngine, catalogs: dict[str, StudyCatalog], tmp_path: Path
) -> None:
    """BDT hard-coded `ursi` in the SELECT and only auto-included demographics named `demographics`."""
    names, rows = run(engine, {"columns": {"subjects": ["age"], "cognitive": ["memory"]}}, catalogs["xs"], tmp_path)
    assert names[0] == "participant_id" and "age" in names and "memory" in names
    assert len(rows) == 11
    names, _ = run(engine, {}, catalogs["vs"], tmp_path)
    assert names[:2] == ["subject", "visit"]


def test_ids_and_values_kept_as_uploaded(engine: DataEngine, catalogs: dict[str, StudyCatalog], tmp_path: Path) -> None:
    """BDT's pandas round trip turned `001` into `1` and keyed sessions as `1_1.0`."""
    _, rows = run(engine, {"participants": ["007", "a00006"]}, catalogs["xs"], tmp_path)
    assert [r["participant_id"] for r in rows] == ["007"]
    _, rows = run(engine, {"participants": ["a00006"]}, catalogs["rk"], tmp_path)
    assert [(r["ursi"], r["session_num"]) for r in rows] == [("a00006", "FU12")]


def test_age_filter_is_optional(engine: DataEngine, catalogs: dict[str, StudyCatalog]) -> None:
    """BDT always applied an age range, dropping rows with missing age and ages above floor(max)."""
    assert (
        engine.count(spec_validate({}, catalogs["xs"]), catalogs["xs"]).participants == 11
    )  # P09 has no age, P07 is 80.5
    spec = {"filters": [{"dataset": "subjects", "column": "age", "op": "between", "value": [18, 80.5]}]}
    assert (
        engine.count(spec_validate(spec, catalogs["xs"]), catalogs["xs"]).participants == 9
    )  # P06 (17.5) and P09 (missing) out, 80.5 kept
    assert (
        engine.count(spec_validate({}, catalogs["vs"]), catalogs["vs"]).participants == 4
    )  # a study without any age column


def test_fractional_ranges(engine: DataEngine, catalogs: dict[str, StudyCatalog]) -> None:
    """BDT's integer sliders made 0.55-0.91 accuracy columns unusable."""
    spec = {"filters": [{"dataset": "flanker", "column": "acc", "op": "between", "value": [0.88, 0.91]}]}
    assert (
        engine.count(spec_validate(spec, catalogs["rk"]), catalogs["rk"]).rows == 3
    )  # 0.91 (A00001 BAS1), 0.88 (A00001 FU2), 0.905 (A00004 BAS2)
    spec = {"filters": [{"dataset": "cognitive", "column": "memory", "op": "lte", "value": 0.91}]}
    assert (
        engine.count(spec_validate(spec, catalogs["xs"]), catalogs["xs"]).participants == 7
    )  # 0.9100001 is above 0.91


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        ("Discovery", ["P01", "P02", "P03", "P06", "P09", "p11"]),  # plain, {a, b}, a;b, ["a","b"], 'a', tab
        ("Neurofeedback", ["P02", "P06", "p11"]),
        ("Longitudinal_Adult", ["P03"]),
        ("B", ["P04"]),  # space-separated "A B"
        ("Discover", []),  # whole tokens only
        ("DISCOVERY", []),  # case-sensitive
    ],
)
def test_site_formats(
    engine: DataEngine, catalogs: dict[str, StudyCatalog], site: str, expected: list[str], tmp_path: Path
) -> None:
    """BDT only matched space-separated lists; brace/comma and semicolon lists never matched."""
    _, rows = run(engine, {"sites": [site]}, catalogs["xs"], tmp_path)
    assert ids(rows, "participant_id") == expected


def test_rockland_semicolon_sites(engine: DataEngine, catalogs: dict[str, StudyCatalog]) -> None:
    got = engine.count(spec_validate({"sites": ["Longitudinal_Adult"]}, catalogs["rk"]), catalogs["rk"])
    assert (got.participants, got.rows) == (2, 4)  # A00001 x3 (;-list), A00005 BAS2 (its FU2 site is missing)


def test_counts_report_participants_and_sessions(engine: DataEngine, catalogs: dict[str, StudyCatalog]) -> None:
    """BDT labelled participant-sessions as 'Matching Rows' only."""
    got = engine.count(spec_validate({"sessions": ["BAS1", "BAS2"]}, catalogs["rk"]), catalogs["rk"])
    assert (got.participants, got.rows) == (5, 7)


def test_long_output_has_the_session_column(
    engine: DataEngine, catalogs: dict[str, StudyCatalog], tmp_path: Path
) -> None:
    """BDT's long export had no session column, so its rows could not be told apart."""
    names, rows = run(engine, {"columns": {"cog": ["attention"]}}, catalogs["rk"], tmp_path)
    assert names[:2] == ["ursi", "session_num"]
    assert len({(r["ursi"], r["session_num"], r["attention"]) for r in rows}) == len(rows)


def test_consolidation_is_opt_in(engine: DataEngine, catalogs: dict[str, StudyCatalog], tmp_path: Path) -> None:
    """BDT consolidated BAS1..3 by default, silently merging visit1..3 of a three-visit study."""
    names, rows = run(engine, {"shape": "wide"}, catalogs["vs"], tmp_path)
    assert names == ["subject", "group", "score_BAS1", "score_BAS2", "score_BAS3", "score_4", "score_10"]
    names, rows = run(engine, {"shape": "wide", "consolidate_baseline": True}, catalogs["vs"], tmp_path)
    assert names == ["subject", "group", "score_BAS", "score_4", "score_10"]
    assert [r["score_BAS"] for r in rows] == [11.0, 23.0, 30.0, 102.0]  # highest-numbered non-null BAS value


def test_wide_sessions_in_natural_order(engine: DataEngine, catalogs: dict[str, StudyCatalog], tmp_path: Path) -> None:
    """BDT sorted sessions lexically (FU12 before FU2)."""
    names, _ = run(engine, {"shape": "wide"}, catalogs["rk"], tmp_path)
    assert [n for n in names if n.startswith("weight_")] == ["weight_BAS1", "weight_BAS2", "weight_FU2", "weight_FU12"]


def test_unknown_tables_and_filters_are_rejected_not_dropped(catalogs: dict[str, StudyCatalog]) -> None:
    """BDT silently dropped filters on tables it did not know."""
    for spec in (
        {"filters": [{"dataset": "ghost", "column": "x", "op": "eq", "value": 1}]},
        {"columns": {"ghost": ["x"]}},
        {"filters": [{"dataset": "cognitive", "column": "ghost", "op": "is_null"}]},
    ):
        with pytest.raises(SpecError) as info:
            spec_validate(spec, catalogs["xs"])
        assert info.value.code in ("unknown_dataset", "unknown_column")


def test_research_headers_with_sql_words(engine: DataEngine, catalogs: dict[str, StudyCatalog], tmp_path: Path) -> None:
    """BDT's content scan rejected `dropout,timetable`; its sanitizer renamed `group by` to FIELD_group_FIELD_by."""
    spec = {
        "filters": [
            {"dataset": "cognitive", "column": "dropout", "op": "eq", "value": False},
            {"dataset": "subjects", "column": "select", "op": "gt", "value": 1},
        ],
        "columns": {"cognitive": ["dropout", "timetable"], "behaviour": ["order"]},
    }
    names, rows = run(engine, spec, catalogs["xs"], tmp_path)
    for name in ("group by", "select", "Größe cm", 'weird"name', "dropout", "timetable", "order"):
        assert name in names
    assert rows and all(r["dropout"] is False for r in rows)


def test_same_named_columns_are_disambiguated_by_dataset(
    engine: DataEngine, catalogs: dict[str, StudyCatalog], tmp_path: Path
) -> None:
    """BDT returned `age`, `age_1` (DuckDB auto-suffix) and its metadata mixed the two columns up."""
    names, rows = run(
        engine, {"participants": ["P01"], "columns": {"cognitive": ["age", "score"]}}, catalogs["xs"], tmp_path
    )
    assert names[-2:] == ["cognitive.age", "score"]
    assert rows[0]["age"] == 25.5 and rows[0]["cognitive.age"] == 25.0


def test_filtering_report_emits_every_step(engine: DataEngine, catalogs: dict[str, StudyCatalog]) -> None:
    spec = {
        "sites": ["Discovery"],
        "sessions": ["BAS1", "BAS2", "FU2", "FU12"],
        "filters": [
            {"dataset": "rockland_demo", "column": "age", "op": "gte", "value": 0},
            {"dataset": "cog", "column": "working_memory", "op": "in", "value": [0.55, 0.61, 0.7, 0.45]},
        ],
    }
    steps = engine.steps(spec_validate(spec, catalogs["rk"]), catalogs["rk"])
    assert [s.type for s in steps] == ["initial", "site", "session", "filter", "filter"]
    assert [s.description for s in steps] == [
        "Initial cohort (no filters)",
        "Site: Discovery",
        "Session: BAS1, BAS2, FU2, FU12",
        "rockland_demo.age >= 0",
        "cog.working_memory in: 4 values",
    ]
    assert [(s.participants, s.rows) for s in steps] == [(6, 13), (4, 8), (4, 8), (3, 7), (2, 4)]  # a00006 has no age
    report = report_rows(steps, by="rows")
    assert report[0]["before"] is None and report[1]["removed"] == 5 and report[1]["removed_pct"] == 38.46
    assert report[2]["removed"] == 0  # emitted even when it removes nobody
    assert report[-1]["cumulative_pct"] == round(100 * 9 / 13, 2)


def test_duckdb_reads_columns_differing_only_in_case(tmp_path: Path) -> None:
    """DuckDB renames case-insensitive duplicates (`age` -> `age_1`); positional mapping keeps both usable."""
    from queries.core.engines.duckdb_engine import DuckDBEngine

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table([pa.array(["x"]), pa.array([1.5]), pa.array([2])], names=["id", "Age", "age"]), path)
    demo = DatasetInfo(
        "d",
        "demographics",
        1,
        "s",
        (ColumnInfo("id", "string"), ColumnInfo("Age", "float"), ColumnInfo("age", "integer")),
        str(path),
    )
    cat = StudyCatalog(StudyKeys("id"), "d", {"d": demo})
    engine = DuckDBEngine()
    spec = {"filters": [{"dataset": "d", "column": "age", "op": "eq", "value": 2}]}
    assert engine.count(spec_validate(spec, cat), cat).participants == 1
    engine.run(spec_validate({}, cat), cat, tmp_path / "o.parquet")
    table = pq.read_table(tmp_path / "o.parquet")
    assert table.column_names == ["id", "Age", "age_2"]  # unique output names (case-insensitive rule)
    assert table.to_pylist() == [{"id": "x", "Age": 1.5, "age_2": 2}]
