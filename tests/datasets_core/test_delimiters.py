"""Delimiter detection (``,`` ``;`` tab ``|``) from the first lines, and the pipeline reading with the choice."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from datasets.ingest import (
    IngestError,
    IngestResult,
    delimiter_choices,
    delimiter_from_name,
    delimiter_label,
    delimiter_name,
    detect_delimiter,
    read_csv_header,
)
from datasets.ingest.delimiters import SAMPLE_CHARS, detect_file_delimiter

from .conftest import BAD

MESSAGE = 'The delimiter must be one of "auto", ",", ";", "tab" or "|".'

# (text, expected delimiter, why)
CASES = [
    ("id,age\nP1,30\nP2,41\n", ",", "plain comma file"),
    ("id;age\nP1;30\nP2;41\n", ";", "plain semicolon file"),
    ("id\tage\nP1\t30\nP2\t41\n", "\t", "tab-separated"),
    ("id|age\nP1|30\nP2|41\n", "|", "pipe-separated"),
    ("id;score;weight\nP1;1,5;70,25\nP2;2,0;81,5\n", ";", "decimal commas in a semicolon file"),
    ("id;score\nP1;1,5\nP2;12,75\n", ";", "decimal commas, two columns"),
    ('"name, full";age\n"Doe, Jane";30\n"Roe, R";41\n', ";", "commas inside quotes do not count"),
    ('id,note\nP1,"a;b;c"\nP2,"x;y;z"\n', ",", "semicolons inside quotes do not count"),
    ('id;note\nP1;"line one\nline two, with a comma"\nP2;plain\n', ";", "quoted line break"),
    ('id;note\nP1;"he said ""a,b"""\n', ";", "doubled quotes inside a quoted value"),
    ("id\nP1\nP2\n", ",", "a single column is comma"),
    ("participant id\nP 1\n", ",", "single column with spaces"),
    ("id;age;sex", ";", "header only, no line break"),
    ("id\tage\tsex\n", "\t", "header only with a line break"),
    ("a,b;c\n1,2;3\n", ",", "tie (two fields either way) goes to the comma"),
    ("a|b\tc\n1|2\t3\n", "\t", "tie between tab and pipe goes to the tab (order , ; tab |)"),
    ("a,b,c;d\n1,2,3;4\n", ",", "more fields wins"),
    ("\ufeffid;age\r\nP1;30\r\n", ";", "BOM and CRLF"),
    ("id;age\n\nP1;30\n\n", ";", "blank lines are skipped"),
    ("id;age;sex\nP1;30\nP2;41;F\n", ";", "ragged semicolon file stays semicolon (reported as ragged)"),
    ("id,site\nP1,Discovery;Longitudinal\nP2,Discovery\n", ",", "semicolons in a comma file's values"),
    ("", ",", "empty text"),
]


@pytest.mark.parametrize(("text", "expected"), [c[:2] for c in CASES], ids=[c[2] for c in CASES])
def test_detection_rules(text: str, expected: str) -> None:
    assert detect_delimiter(text, complete=True) == expected


def test_a_record_cut_off_by_the_sample_is_ignored() -> None:
    # The last line is cut (not the whole file): its 2 fields must not make ';' look ragged.
    assert detect_delimiter("a;b;c\n1;2;3\n4;5", complete=False) == ";"
    # The same text as a whole file: the last record is ragged, ';' still matches most lines.
    assert detect_delimiter("a;b;c\n1;2;3\n4;5", complete=True) == ";"


def test_an_unclosed_quote_at_the_end_of_the_sample_is_not_counted() -> None:
    assert detect_delimiter('id;note\nP1;x\nP2;"open, still open', complete=False) == ";"


def test_a_header_wider_than_the_sample_decides_alone() -> None:
    header = ";".join(f"measure_{i:05d}" for i in range(10_000))
    assert detect_delimiter(header[:SAMPLE_CHARS], complete=False) == ";"


def test_detection_is_deterministic_and_reads_only_the_beginning(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("id;v\n" + "P;1\n" * 5_000 + "P,1,2,3,4,5,6\n" * 50_000)
    assert {detect_file_delimiter(path) for _ in range(3)} == {";"}


def test_outside_names() -> None:
    assert delimiter_choices() == ["auto", ",", ";", "tab", "|"]
    assert [delimiter_from_name(v) for v in ("auto", "", None, ",", ";", "tab", "TAB", "\t", "|")] == [
        None,
        None,
        None,
        ",",
        ";",
        "\t",
        "\t",
        "\t",
        "|",
    ]
    assert delimiter_from_name("semicolon") == ";" and delimiter_from_name("pipe") == "|"
    for bad in (";;", "x", ":", '"', "\\t", "space"):
        with pytest.raises(ValueError, match=re.escape(MESSAGE)):
            delimiter_from_name(bad)
    assert delimiter_name("\t") == "tab" and delimiter_name(None) == "auto" and delimiter_name(";") == ";"
    assert delimiter_label(";") == "semicolon" and delimiter_label("\t") == "tab"


COMMA = 'ursi,age,score,note\nSUB001,25,1.5,"a, b"\nSUB002,31,,plain\nSUB003,40,2.25,"say ""hi"""\n'
SEMICOLON = 'ursi;age;score;note\nSUB001;25;1.5;a, b\nSUB002;31;;plain\nSUB003;40;2.25;"say ""hi"""\n'
TAB = 'ursi\tage\tscore\tnote\nSUB001\t25\t1.5\ta, b\nSUB002\t31\t\tplain\nSUB003\t40\t2.25\t"say ""hi"""\n'
PIPE = 'ursi|age|score|note\nSUB001|25|1.5|a, b\nSUB002|31||plain\nSUB003|40|2.25|"say ""hi"""\n'


def _rows(path: Path) -> list[tuple[object, ...]]:
    return duckdb.connect().execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall()


@pytest.mark.parametrize(
    ("text", "delimiter"), [(SEMICOLON, ";"), (TAB, "\t"), (PIPE, "|")], ids=["semi", "tab", "pipe"]
)
def test_pipeline_reads_other_separators_like_the_comma_file(
    tmp_path: Path, ingest: Callable[..., IngestResult], text: str, delimiter: str
) -> None:
    (tmp_path / "comma.csv").write_text(COMMA)
    (tmp_path / "other.csv").write_text(text)
    comma = ingest(tmp_path / "comma.csv", id_column="ursi")
    comma_rows = _rows(comma.parquet_path)
    other = ingest(tmp_path / "other.csv", id_column="ursi")
    assert (comma.delimiter, comma.delimiter_detected) == (",", True)
    assert (other.delimiter, other.delimiter_detected) == (delimiter, True)
    assert (
        other.schema
        == comma.schema
        == [
            ("ursi", "string"),
            ("age", "integer"),
            ("score", "float"),
            ("note", "string"),
        ]
    )
    assert _rows(other.parquet_path) == comma_rows
    assert [c.as_dict() for c in other.columns] == [c.as_dict() for c in comma.columns]


def test_decimal_commas_in_a_semicolon_file_stay_text(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    path = tmp_path / "eu.csv"
    path.write_text("ursi;score;age\nSUB001;1,5;30\nSUB002;12,75;41\n")
    result = ingest(path, id_column="ursi")
    assert result.delimiter == ";"
    assert result.schema == [("ursi", "string"), ("score", "string"), ("age", "integer")]
    assert _rows(result.parquet_path) == [("SUB001", "1,5", 30), ("SUB002", "12,75", 41)]


def test_an_explicit_delimiter_overrides_detection(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    path = tmp_path / "one.csv"
    path.write_text("ursi;note\nSUB001;a;b\n")  # ragged under ';' - read as one comma column on request
    result = ingest(path, delimiter=",")
    assert (result.delimiter, result.delimiter_detected) == (",", False)
    assert result.schema == [("ursi;note", "string")]


def test_ragged_rows_name_the_detected_separator(tmp_path: Path, reject: Callable[..., IngestError]) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("ursi;age;sex\nSUB001;25;F\nSUB002;30;M;extra\nSUB003;41;F\n")
    error = reject(path)
    assert error.code == "ragged_rows"
    assert "Row 3 has 4 values" in error.message and "a semicolon must be in double quotes" in error.message
    assert error.details["delimiter"] == ";"


def test_header_only_semicolon_file_is_reported_with_its_columns(
    reject: Callable[..., IngestError], tmp_path: Path
) -> None:
    path = tmp_path / "h.csv"
    path.write_text("ursi;age;sex\n")
    error = reject(path)
    assert error.code == "header_only" and "'ursi', 'age' and 'sex'" in error.message


def test_read_csv_header_detects_too() -> None:
    assert read_csv_header(BAD / "semicolon.csv") == ["ursi", "age", "sex"]
    assert read_csv_header(BAD / "semicolon.csv", delimiter=",") == ["ursi;age;sex"]
