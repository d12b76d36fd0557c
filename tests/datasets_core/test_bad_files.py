"""The bad-file corpus (tests/fixtures/ingest/bad) and generated oversized inputs.

For every rejection: the specific code, a message that names the row/column/encoding involved, no file path in
the message, and an empty work directory afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from datasets.ingest import IngestError, IngestResult
from datasets.ingest.sniff import CHUNK

from .conftest import BAD, read_back

KEYS = {"id_column": "ursi"}
LONG = {"id_column": "ursi", "session_column": "session_num"}


# (fixture, options, code, phrases the message must contain)
CASES = [
    ("empty.csv", {}, "empty_file", ["empty"]),
    ("blank_lines.csv", {}, "empty_file", ["no data"]),
    ("header_only.csv", KEYS, "header_only", ["no data rows", "'ursi'"]),
    ("latin1.csv", KEYS, "unsupported_encoding", ["not valid UTF-8", "line 2", "Latin-1", '"cp1252"', "declare"]),
    ("cp1252.csv", KEYS, "unsupported_encoding", ["line 2", "Windows-1252", "declare"]),
    ("utf16.csv", KEYS, "unsupported_encoding", ["UTF-16", '"utf-16"']),
    ("ragged.csv", KEYS, "ragged_rows", ["Row 3", "2 values", "3 columns"]),
    ("ragged_extra.csv", KEYS, "ragged_rows", ["Row 4", "4 values", "double quotes"]),
    ("unclosed_quote.csv", KEYS, "unclosed_quote", ["Row 3", "quote"]),
    ("duplicate_headers.csv", KEYS, "duplicate_columns", ["'score'", "columns 2 and 4"]),
    ("case_duplicate_headers.csv", KEYS, "duplicate_columns", ["'Age' and 'age'", "upper/lower case"]),
    ("empty_header_name.csv", KEYS, "empty_column_name", ["Column 2 has no name"]),
    ("trailing_comma_header.csv", KEYS, "empty_column_name", ["Column 3", "ends with a comma"]),
    ("nul_bytes.csv", KEYS, "binary_content", ["binary", "line 3"]),
    ("zip_renamed.csv", KEYS, "archive_content", ["ZIP archive", "not a CSV"]),
    ("xlsx_renamed.csv", KEYS, "archive_content", ["Excel workbook", "CSV UTF-8"]),
    ("gzip_renamed.csv", KEYS, "archive_content", ["gzip"]),
    ("no_id_column.csv", KEYS, "missing_id_column", ["'ursi'", "'subject'"]),
    # Detected as ';' by default (test_delimiters.py); forcing ',' keeps the hint that names the real separator.
    ("semicolon.csv", {**KEYS, "delimiter": ","}, "missing_id_column", ["'ursi'", "';'", "delimiter"]),
    ("null_ids.csv", KEYS, "empty_ids", ["2 rows", "'ursi'", "row 3 and 5"]),
    (
        "duplicate_ids.csv",
        KEYS,
        "duplicate_keys",
        ["2 participant keys appear", "'SUB001' (rows 2, 4 and 7)", "'SUB002'"],
    ),
    (
        "duplicate_id_session.csv",
        LONG,
        "duplicate_keys",
        ["1 participant and session key appears", "'SUB001' session 'BAS1' (rows 2 and 5)", "once per session"],
    ),
    ("missing_session_column.csv", LONG, "missing_session_column", ["'session_num'", "'visit'"]),
    ("empty_sessions.csv", LONG, "empty_sessions", ["1 row", "'session_num'", "row 3"]),
]


@pytest.mark.parametrize(("name", "options", "code", "phrases"), CASES, ids=[c[0] for c in CASES])
def test_bad_file_is_rejected_with_specific_code(
    reject: Callable[..., IngestError], name: str, options: dict[str, str], code: str, phrases: list[str]
) -> None:
    error = reject(BAD / name, **options)
    assert error.code == code, error.message
    for phrase in phrases:
        assert phrase in error.message, f"{phrase!r} not in {error.message!r}"
    assert error.as_dict()["code"] == code


def test_error_details_are_structured(reject: Callable[..., IngestError]) -> None:
    assert reject(BAD / "ragged.csv").details == {
        "row": 3,
        "excerpt": "SUB002,32",
        "expected_columns": 3,
        "found_columns": 2,
    }
    assert reject(BAD / "duplicate_headers.csv").details["duplicates"] == [{"names": ["score"], "positions": [2, 4]}]
    assert reject(BAD / "null_ids.csv", **KEYS).details == {"column": "ursi", "count": 2, "rows": [3, 5]}
    assert reject(BAD / "latin1.csv").details["likely_encoding"] == "cp1252"
    dup = reject(BAD / "duplicate_ids.csv", **KEYS).details
    assert dup["duplicate_keys"] == 2 and dup["rows_involved"] == 5
    assert dup["examples"][0] == {"key": ["SUB001"], "count": 3, "rows": [2, 4, 7]}


def test_bom_is_accepted_and_stripped(ingest: Callable[..., IngestResult]) -> None:
    result = ingest(BAD / "bom.csv", **KEYS)
    assert result.encoding == "utf-8-sig"
    assert [c.name for c in result.columns] == ["ursi", "age", "sex", "score"]
    assert read_back(result)["ursi"] == ["SUB001", "SUB002", "SUB003"]


@pytest.mark.parametrize(
    ("name", "encoding", "column", "expected"),
    [
        ("latin1.csv", "latin-1", "site", ["Zürich", "Genève"]),
        ("latin1.csv", "ISO-8859-1", "note", ["café au lait", "crème brûlée"]),
        ("cp1252.csv", "cp1252", "note", ["\u201csmart quotes\u201d", "50\u20ac"]),
        ("utf16.csv", "utf-16", "score", [10.5, 11.0, 9.25]),
    ],
)
def test_declared_encoding_is_converted(
    ingest: Callable[..., IngestResult], work_dir: Path, name: str, encoding: str, column: str, expected: list[object]
) -> None:
    result = ingest(BAD / name, encoding=encoding, **KEYS)
    assert read_back(result)[column] == expected
    assert result.encoding != "utf-8"
    assert result.sha256 == __import__("hashlib").sha256((BAD / name).read_bytes()).hexdigest()
    assert [p.name for p in work_dir.iterdir()] == [result.parquet_path.name], "the UTF-8 copy must be removed"


def test_wrongly_declared_encoding_names_the_line(reject: Callable[..., IngestError]) -> None:
    error = reject(BAD / "latin1.csv", encoding="ascii")
    assert error.code == "unsupported_encoding"
    assert '"ascii"' in error.message and "line 2" in error.message


def test_unknown_encoding_name_is_an_option_error(reject: Callable[..., IngestError]) -> None:
    error = reject(BAD / "bom.csv", encoding="klingon-8")
    assert error.code == "invalid_options" and "klingon-8" in error.message


@pytest.mark.parametrize("encoding", ["rot13", "hex", "base64", "zlib", "undefined"])
def test_a_declared_transform_is_no_encoding_and_an_option_error(
    reject: Callable[..., IngestError], encoding: str
) -> None:
    """A job queued with one (before uploads were checked) fails with a clear reason, never a type error."""
    error = reject(BAD / "bom.csv", encoding=encoding)
    assert error.code == "invalid_options"
    assert f"'{encoding}' is not a text encoding" in error.message and "utf-8, latin-1" in error.message


def test_file_too_large(reject: Callable[..., IngestError]) -> None:
    error = reject(BAD / "duplicate_ids.csv", max_bytes=50)
    assert error.code == "file_too_large"
    assert error.details == {"size_bytes": 69, "max_bytes": 50}


def test_ten_megabyte_single_line_of_values(tmp_path: Path, reject: Callable[..., IngestError]) -> None:
    path = tmp_path / "one_line.csv"
    path.write_bytes(b"v," * 5_000_000)
    error = reject(path)
    assert error.code == "too_many_columns"
    assert "more than 5,000 columns" in error.message


def test_ten_megabyte_single_line_without_delimiter(tmp_path: Path, reject: Callable[..., IngestError]) -> None:
    path = tmp_path / "one_line.csv"
    path.write_bytes(b"x" * 10_000_000)
    assert reject(path).code == "header_too_long"


def test_ten_megabyte_data_row(tmp_path: Path, reject: Callable[..., IngestError]) -> None:
    path = tmp_path / "long_row.csv"
    path.write_bytes(b"ursi,note\nSUB001,short\nSUB002," + b"x" * 10_000_000 + b"\n")
    error = reject(path)
    assert error.code == "line_too_long"
    assert "Row 3" in error.message


def test_long_cell_below_the_limit_is_kept(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    path = tmp_path / "long_cell.csv"
    text = "y" * 1_000_000
    path.write_text(f'ursi,note\nSUB001,"{text}"\n')
    assert read_back(ingest(path))["note"] == [text]


def test_too_many_columns(tmp_path: Path, reject: Callable[..., IngestError]) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(5001)) + "\n" + ",".join("1" for _ in range(5001)) + "\n")
    error = reject(path)
    assert error.code == "too_many_columns"
    assert "5,001 columns" in error.message and "5,000" in error.message
    assert reject(path, max_columns=100).details["max_columns"] == 100


def test_ragged_row_deep_in_a_large_file_reports_its_row(tmp_path: Path, reject: Callable[..., IngestError]) -> None:
    lines = ["ursi,a,b"] + [f"S{i},{i},x" for i in range(200_000)]
    lines[100_000] = 'S_q,"multi\nline",y'
    lines[150_000] = "S_bad,1"
    path = tmp_path / "deep.csv"
    path.write_text("\n".join(lines) + "\n")
    error = reject(path)
    assert error.code == "ragged_rows"
    assert error.details["row"] == 150_001
    assert "Row 150,001" in error.message


def test_binary_signatures_even_when_named_csv(tmp_path: Path, reject: Callable[..., IngestError]) -> None:
    for content, phrase in [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Excel 97-2003"),
        (b"%PDF-1.7\n...", "PDF"),
        (b"PAR1" + b"x" * 50, "Parquet"),
        (b"$FL2@(#) SPSS DATA FILE", "SPSS"),
    ]:
        path = tmp_path / "data.CSV"
        path.write_bytes(content)
        error = reject(path)
        assert error.code == "binary_content" and phrase in error.message


def test_utf16_without_bom_is_recognised(tmp_path: Path, reject: Callable[..., IngestError]) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes("ursi,age\nSUB001,25\nSUB002,26\n".encode("utf-16-le"))
    error = reject(path)
    assert error.code == "unsupported_encoding" and "utf-16-le" in error.message


def test_invalid_utf8_late_in_file(tmp_path: Path, reject: Callable[..., IngestError]) -> None:
    body = "".join(f"S{i},{i}\n" for i in range(100_000))
    path = tmp_path / "late.csv"
    path.write_bytes(b"ursi,age\n" + body.encode() + b"S_x,caf\xe9\n")
    error = reject(path)
    assert error.code == "unsupported_encoding"
    assert error.details["line"] == 100_002
    assert "byte 0xE9" in error.message


def _ascii_rows_up_to(boundary: int) -> bytes:
    """A header, ASCII rows and the start of a last row ``S9999,xx...x`` ending 1 byte before ``boundary``."""
    head = b"ursi,note\n"
    rows = (boundary - 1 - len(head) - 64) // len(b"S000000,abcdefghij\n")
    body = head + b"".join(b"S%06d,abcdefghij\n" % i for i in range(rows))
    last = b"S9999,"
    return body + last + b"x" * (boundary - 1 - len(body) - len(last))


def test_utf8_character_across_a_block_boundary(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    """The byte scan reads 1 MiB blocks (all-ASCII ones are not decoded); a character split between two blocks
    is still one valid character."""
    path = tmp_path / "split.csv"
    path.write_bytes(_ascii_rows_up_to(CHUNK) + "é\nS0001,plain\n".encode())
    notes = read_back(ingest(path, id_column="ursi"))["note"]
    assert notes[-2].startswith("xxx") and notes[-2].endswith("xé")
    assert notes[-1] == "plain"


def test_truncated_utf8_before_an_ascii_block(tmp_path: Path, reject: Callable[..., IngestError]) -> None:
    """A lead byte at the end of a block followed by an all-ASCII block is invalid UTF-8 (not skipped)."""
    path = tmp_path / "truncated.csv"
    path.write_bytes(_ascii_rows_up_to(CHUNK) + b"\xc3\nS0001,plain\n")
    error = reject(path, id_column="ursi")
    assert error.code == "unsupported_encoding"
    assert error.details["byte_offset"] == CHUNK  # where the next block shows the character is incomplete


def test_invalid_utf8_after_ascii_blocks(tmp_path: Path, reject: Callable[..., IngestError]) -> None:
    path = tmp_path / "late_block.csv"
    content = _ascii_rows_up_to(3 * CHUNK) + b"\nS0001,caf\xe9\n"
    path.write_bytes(content)
    error = reject(path, id_column="ursi")
    assert error.code == "unsupported_encoding" and "byte 0xE9" in error.message
    assert error.details["byte_offset"] == len(content) - 2


def test_nul_in_a_declared_encoding(tmp_path: Path, reject: Callable[..., IngestError]) -> None:
    path = tmp_path / "nul16.csv"
    path.write_bytes("ursi,age\nSUB001,25\nSUB002,2\x006\n".encode("utf-16"))
    error = reject(path, encoding="utf-16")
    assert error.code == "binary_content" and "line 3" in error.message


def test_blank_first_line(tmp_path: Path, reject: Callable[..., IngestError]) -> None:
    path = tmp_path / "blank_first.csv"
    path.write_text("\nursi,age\nSUB001,25\n")
    error = reject(path)
    assert error.code == "empty_column_name" and "first line" in error.message
