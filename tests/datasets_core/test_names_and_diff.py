"""Dataset slugs from file names, natural session order, and schema diffs between versions."""

from __future__ import annotations

import re

import pytest

from datasets.ingest import ColumnProfile, Retyped, dataset_slug, natural_sort_key, schema_diff


@pytest.mark.parametrize(
    ("filename", "slug"),
    [
        ("demographics.csv", "demographics"),
        ("Demographics.CSV", "demographics"),
        ("my file name.csv", "my_file_name"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\data.csv", "data"),
        ("/absolute/path/to/flanker.csv", "flanker"),
        ("C:\\Users\\me\\Documents\\Visit 1 (2024).CSV", "visit_1_2024"),
        ("\\\\server\\share\\cognitive.csv", "cognitive"),
        ("file.csv\x00/etc/passwd", "file"),
        ("file.csv\n../../x", "file"),
        ("file\twith\ttabs.csv", "file"),
        ("file_ñame_café.csv", "file_name_cafe"),
        ("Straße_Ødegaard.csv", "strasse_odegaard"),
        ("文件名.csv", "dataset"),
        ("..csv", "dataset"),
        (".csv", "dataset"),
        ("", "dataset"),
        ("data.v2.csv", "data_v2"),
        ("scores.csv.gz", "scores"),
        ("report.xlsx", "report"),
        ("'; DROP TABLE demographics; --.csv", "drop_table_demographics"),
        ("ＦＵＬＬ＿ｗｉｄｔｈ.csv", "full_width"),
        ("2024_visits.csv", "2024_visits"),
    ],
)
def test_dataset_slug(filename: str, slug: str) -> None:
    assert dataset_slug(filename) == slug


def test_slug_is_short_and_well_formed() -> None:
    slug = dataset_slug("x" * 300 + ".csv")
    assert len(slug) == 63 and re.fullmatch(r"[a-z0-9_]+", slug)
    assert dataset_slug("a" * 62 + " b.csv") == "a" * 62


def test_natural_session_order() -> None:
    labels = ["FU12", "BAS2", "FU2", "1", "10", "2", "FU1", "BAS1", "FU1a", "fu3"]
    assert sorted(labels, key=natural_sort_key) == ["1", "2", "10", "BAS1", "BAS2", "FU1", "FU1a", "FU2", "fu3", "FU12"]


def _profile(name: str, type_: str) -> ColumnProfile:
    return ColumnProfile(name=name, type=type_, position=0, missing=0, distinct=0)  # type: ignore[arg-type]


def test_schema_diff() -> None:
    old = [
        _profile("ursi", "string"),
        _profile("age", "integer"),
        _profile("Score", "float"),
        _profile("gone", "string"),
    ]
    new = [
        {"name": "ursi", "type": "string"},
        {"name": "age", "type": "float"},
        {"name": "score", "type": "float"},
        {"name": "site", "type": "string"},
    ]
    diff = schema_diff(old, new, old_rows=100, new_rows=90)
    assert diff.added == ["score", "site"]
    assert diff.removed == ["Score", "gone"]
    assert diff.retyped == [Retyped("age", "integer", "float")]
    assert diff.row_change == -10 and diff.has_changes and diff.schema_changed
    assert diff.renamed_case == [("Score", "score")]
    assert diff.as_dict()["retyped"] == [{"name": "age", "from": "integer", "to": "float"}]


def test_schema_diff_without_changes_and_reordering() -> None:
    cols = [("a", "string"), ("b", "integer")]
    same = schema_diff(cols, cols, 5, 5)
    assert not same.has_changes and same.as_dict()["row_change"] == 0
    moved = schema_diff(cols, list(reversed(cols)), 5, 7)
    assert moved.reordered and not moved.schema_changed and moved.row_change == 2
