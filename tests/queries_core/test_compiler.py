"""Compiler properties: quoting, literal-only user values, star joins, naming rules, session labels, catalog checks."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from core.column_types import natural_sort_key
from queries.core.catalog import CatalogError, ColumnInfo, DatasetInfo, StudyCatalog, StudyKeys, physical_table_name
from queries.core.compiler import (
    CompileError,
    compile_count,
    compile_rows,
    compile_steps,
    compile_wide_discovery,
    output_columns,
    plan_wide,
    session_label,
)
from queries.core.spec import spec_validate
from tests.queries_core.cases import INJECTION
from tests.queries_core.studies import LONG_HEADER

SPEC: dict[str, Any] = {
    "sites": ["Discovery", "A"],
    "participants": ["P01", INJECTION],
    "filters": [
        {"dataset": "subjects", "column": "group by", "op": "in", "value": [INJECTION, "ctrl"]},
        {"dataset": "behaviour", "column": "task", "op": "eq", "value": "'; DROP TABLE subjects; --"},
        {"dataset": "cognitive", "column": LONG_HEADER, "op": "gte", "value": 2},
    ],
    "columns": {"cognitive": ["score", LONG_HEADER], "behaviour": ["score", "order", "file_row_number"]},
}


def all_sql(catalog: StudyCatalog, dialect: str) -> list[str]:
    return [
        compile_count(spec_validate(SPEC, catalog), catalog, dialect, schema="s"),  # type: ignore[arg-type]
        compile_steps(spec_validate(SPEC, catalog), catalog, dialect, schema="s").sql,  # type: ignore[arg-type]
        compile_rows(spec_validate(SPEC, catalog), catalog, dialect, limit=5, schema="s"),  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_sql_parses_as_one_statement_with_quoted_identifiers(catalogs: dict[str, StudyCatalog], dialect: str) -> None:
    for sql in all_sql(catalogs["xs"], dialect):
        statements = sqlglot.parse(sql, read=dialect)
        assert len(statements) == 1
        tree = statements[0]
        assert tree is not None
        idents = list(tree.find_all(exp.Identifier))
        assert idents and all(i.quoted for i in idents)
        strings = {lit.this for lit in tree.find_all(exp.Literal) if lit.is_string}
        assert INJECTION in strings and "'; DROP TABLE subjects; --" in strings
        # user values only ever appear as literals
        assert not any(INJECTION in i.this for i in idents)


def test_postgres_sql_uses_positional_names_only(catalogs: dict[str, StudyCatalog]) -> None:
    for sql in all_sql(catalogs["xs"], "postgres"):
        tree = sqlglot.parse_one(sql, read="postgres")
        names = {i.this for i in tree.find_all(exp.Identifier)}
        assert LONG_HEADER not in names and "group by" not in names
        assert all(len(n.encode()) <= 63 for n in names)
        assert '"s".' in sql  # tables qualified with the schema


def test_duckdb_long_sql_aliases_real_names(catalogs: dict[str, StudyCatalog]) -> None:
    sql = compile_rows(spec_validate(SPEC, catalogs["xs"]), catalogs["xs"], "duckdb")
    tree = sqlglot.parse_one(sql, read="duckdb")
    aliases = [a.alias for a in tree.expressions]
    assert aliases == [c.name for c in output_columns(spec_validate(SPEC, catalogs["xs"]), catalogs["xs"])]
    assert '"weird""name"' in sql


def test_star_join_each_dataset_once_on_the_merge_key(catalogs: dict[str, StudyCatalog]) -> None:
    cat = catalogs["rk"]
    spec = {
        "filters": [
            {"dataset": "cog", "column": "attention", "op": "gt", "value": 1},
            {"dataset": "cog", "column": "weight", "op": "gt", "value": 1},
        ],
        "columns": {"flanker": ["acc"], "genetics": ["apoe"], "cog": ["weight"]},
    }
    tree = sqlglot.parse_one(compile_rows(spec_validate(spec, cat), cat, "duckdb"), read="duckdb")
    joins = tree.args["joins"]
    assert [j.side for j in joins] == ["LEFT"] * 3
    aliases = [j.this.alias for j in joins]
    assert aliases == ["d1", "d2", "d3"]  # flanker, genetics, cog: one join each even with two cog filters
    for join, alias in zip(joins, aliases, strict=True):
        tables = {c.table for c in join.args["on"].find_all(exp.Column)}
        assert tables == {"d0", alias}  # joined to demographics only, never to each other
    on_genetics = joins[1].args["on"]
    assert len(list(on_genetics.find_all(exp.EQ))) == 1  # per-participant dataset: id only
    assert len(list(joins[0].args["on"].find_all(exp.EQ))) == 2  # id + session
    # counts join only the datasets that filter
    count_tree = sqlglot.parse_one(compile_count(spec_validate(spec, cat), cat, "duckdb"), read="duckdb")
    assert len(list(count_tree.find_all(exp.Join))) == 1


def test_count_has_no_string_concatenation(catalogs: dict[str, StudyCatalog]) -> None:
    tree = sqlglot.parse_one(
        compile_count(spec_validate({}, catalogs["rk"]), catalogs["rk"], "postgres"), read="postgres"
    )
    assert not list(tree.find_all(exp.DPipe)) and not list(tree.find_all(exp.Concat))


def test_output_column_naming_rule(catalogs: dict[str, StudyCatalog]) -> None:
    cat = catalogs["xs"]
    names = [c.name for c in output_columns(spec_validate(SPEC, cat), cat)]
    assert names[:8] == ["participant_id", "age", "sex", "site", "group by", "Größe cm", "select", 'weird"name']
    # score is picked from two datasets -> both prefixed; the rest keep their names
    assert names[8:] == ["cognitive.score", LONG_HEADER, "behaviour.score", "order", "file_row_number"]
    # a measure column named like a demographics column is prefixed; demographics keeps the bare name
    names = [c.name for c in output_columns(spec_validate({"columns": {"cognitive": ["age", "memory"]}}, cat), cat)]
    assert names[1] == "age" and names[-2:] == ["cognitive.age", "memory"]
    rk = [
        c.name for c in output_columns(spec_validate({"columns": {"cog": ["weight"]}}, catalogs["rk"]), catalogs["rk"])
    ]
    assert rk[:2] == ["ursi", "session_num"] and rk[-1] == "cog.weight"


def test_output_names_stay_unique_when_prefixed_names_clash() -> None:
    demo = DatasetInfo(
        "d", "demographics", 1, "x", (ColumnInfo("id", "string"), ColumnInfo("m.x", "float"), ColumnInfo("X", "float"))
    )
    m = DatasetInfo("m", "measure", 1, "y", (ColumnInfo("id", "string"), ColumnInfo("x", "float")))
    cat = StudyCatalog(StudyKeys("id"), "d", {"d": demo, "m": m})
    assert [c.name for c in output_columns(spec_validate({"columns": {"m": ["x"]}}, cat), cat)] == [
        "id",
        "m.x",
        "X",
        "m.x_2",
    ]


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("BAS1", "BAS1"),
        ("bas2", "BAS2"),
        ("Baseline3", "BAS3"),
        ("BASE1", "BAS1"),
        ("visit2", "BAS2"),
        ("V3", "BAS3"),
        ("1", "BAS1"),
        ("1.0", "BAS1"),
        ("2.00", "BAS2"),
        (3, "BAS3"),
        (2.0, "BAS2"),
        (4, "4"),
        (4.0, "4"),
        ("visit4", "VISIT4"),
        ("FU 1", "FU1"),
        ("Year-2", "YEAR2"),
        ("fu12", "FU12"),
        ("Año 1", "AO1"),
        ("!!", "SES!!"),
        ("BAS4", "BAS4"),
    ],
)
def test_session_labels(raw: Any, label: str) -> None:
    assert session_label(raw) == label


def test_natural_order() -> None:
    labels = ["FU12", "FU2", "BAS2", "BAS1", "FU1", "10", "2", "FU1A"]
    assert sorted(labels, key=natural_sort_key) == ["2", "10", "BAS1", "BAS2", "FU1", "FU1A", "FU2", "FU12"]


def test_wide_needs_a_plan_and_a_bounded_width(catalogs: dict[str, StudyCatalog]) -> None:
    cat = catalogs["rk"]
    with pytest.raises(CompileError) as info:
        compile_rows(spec_validate({"shape": "wide"}, cat), cat, "duckdb")
    assert info.value.code == "wide_needs_plan"
    disc = compile_wide_discovery(spec_validate({}, cat), cat, "duckdb")
    with pytest.raises(CompileError) as info:
        plan_wide(spec_validate({}, cat), cat, ["BAS1", "BAS2", "FU1"], [2] * len(disc.value_columns), max_columns=5)
    assert info.value.code == "too_many_columns"
    with pytest.raises(CompileError):
        compile_wide_discovery(spec_validate({}, catalogs["xs"]), catalogs["xs"], "duckdb")


def test_unknown_dialect(catalogs: dict[str, StudyCatalog]) -> None:
    with pytest.raises(ValueError, match="dialect"):
        compile_count(spec_validate({}, catalogs["xs"]), catalogs["xs"], "mysql")  # type: ignore[arg-type]


def test_catalog_consistency_checks() -> None:
    id_col = ColumnInfo("id", "string")
    demo = DatasetInfo("d", "demographics", 1, "x", (id_col, ColumnInfo("s", "string")))
    with pytest.raises(CatalogError):
        StudyCatalog(StudyKeys("id"), "missing", {"d": demo})
    with pytest.raises(CatalogError):
        StudyCatalog(StudyKeys("id", "nope"), "d", {"d": demo})
    with pytest.raises(CatalogError):
        StudyCatalog(
            StudyKeys("id"), "d", {"d": demo, "m": DatasetInfo("m", "measure", 1, "y", (ColumnInfo("x", "float"),))}
        )
    with pytest.raises(CatalogError):
        DatasetInfo("d", "demographics", 1, "x", (id_col, id_col))
    with pytest.raises(CatalogError):
        ColumnInfo("a\x00b", "string")
    with pytest.raises(CatalogError):
        ColumnInfo("a", "decimal")  # type: ignore[arg-type]


def test_physical_table_names() -> None:
    cols = (ColumnInfo("id", "string"),)
    a = DatasetInfo("Ä weird/name; DROP " * 5, "measure", 12, "f" * 64, cols)
    b = DatasetInfo("Ä weird/name; DROP " * 5, "measure", 13, "f" * 64, cols)
    na, nb = physical_table_name(a), physical_table_name(b)
    assert na != nb and len(na) <= 63 and nb.startswith("dv_")
    assert all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in na)
    assert physical_table_name(a) == na  # deterministic
