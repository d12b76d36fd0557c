"""Values survive the trip CSV -> Parquet exactly (strings) or numerically (typed columns)."""

from __future__ import annotations

import csv
import io
import math
import random
import re
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from datasets.ingest import IngestResult

from .conftest import GOOD, read_back


def _original(path: Path, encoding: str = "utf-8") -> dict[str, list[str]]:
    """The file parsed by Python's csv module (an independent parser): {column: raw strings}."""
    with path.open(newline="", encoding=encoding) as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    return {name: [row[i] for row in body] for i, name in enumerate(header)}


def test_roundtrip_fixture_keeps_every_value(ingest: Callable[..., IngestResult]) -> None:
    path = GOOD / "roundtrip.csv"
    result = ingest(path, id_column="participant_id", session_column="session")
    types = dict(result.schema)
    assert types == {
        "participant_id": "string",
        "session": "string",
        "age": "float",
        "note": "string",
        "Größe (cm)": "float",
        "体重": "float",
        "formula": "string",
        "score": "string",
    }
    back = read_back(result)
    original = _original(path)
    assert list(back) == list(original), "column names and order are kept exactly"
    assert back["participant_id"] == ["001", "010", "100", "0100"]
    assert back["session"] == ["1", "1.0", "BAS1", "FU12"]
    assert back["note"] == ["plain", "commas, inside", 'quotes "inside" here', "two\nlines"]
    assert back["formula"] == ["=SUM(A1:A3)", "+1234", "-5+3", "@cmd"]
    assert back["score"] == ["007", "7", "70", "0"]
    assert back["age"] == [10.5, 11.25, 9.75, 12.0]
    assert back["Größe (cm)"] == [170.0, 171.5, None, 169.0]
    assert back["体重"] == [60.5, 61.0, 62.0, None]
    assert result.sessions == ["1", "1.0", "BAS1", "FU12"]
    assert result.participants == 4


def test_parquet_types_and_layout(ingest: Callable[..., IngestResult]) -> None:
    result = ingest(GOOD / "longitudinal_demographics.csv", id_column="ursi", session_column="session_num")
    meta = pq.ParquetFile(result.parquet_path)
    schema = {field.name: str(field.type) for field in meta.schema_arrow}
    assert schema == {
        "ursi": "string",
        "session_num": "string",
        "age": "double",
        "sex": "int64",
        "all_studies": "string",
    }
    assert meta.metadata.row_group(0).column(0).compression == "ZSTD"
    assert result.sessions == ["BAS1", "FU1", "FU2", "FU12"], "natural order: FU2 before FU12"
    assert result.participants == 3 and result.session_count == 4


def test_research_headers_with_sql_words_are_accepted(ingest: Callable[..., IngestResult]) -> None:
    path = GOOD / "research_headers.csv"
    result = ingest(path, id_column="ursi")
    names = [c.name for c in result.columns]
    assert names == list(_original(path))
    assert "drop table x; --" in names and "executive_function(z)" in names and "order" in names
    back = read_back(result)
    assert back["executive_function(z)"] == [1.5, -0.25]
    assert back["drop table x; --"] == ["a", "c"]
    assert result.column("dropout_flag").type == "integer"
    assert result.column("reunion").type == "boolean"


def test_crlf_line_ends(ingest: Callable[..., IngestResult]) -> None:
    back = read_back(ingest(GOOD / "crlf.csv", id_column="ursi"))
    assert back == {"ursi": ["SUB001", "SUB002"], "age": [25, 26]}


# An independent (pure Python) statement of the type rules documented in datasets.ingest.types.
_INT = re.compile(r"-?(0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?((0|[1-9][0-9]*)(\.[0-9]+)?|\.[0-9]+)([eE][-+]?[0-9]{1,2})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def expected_type(values: list[str]) -> str:
    present = [v for v in values if v != ""]
    if not present:
        return "string"
    if all(v.lower() in ("true", "false", "yes", "no") for v in present):
        return "boolean"
    if all(_INT.fullmatch(v) for v in present):
        return "integer"
    long_plain_integer = re.compile(r"-?[0-9]{19,}")  # more digits than a 64-bit integer safely holds: text
    if all(_FLOAT.fullmatch(v) and not long_plain_integer.fullmatch(v) for v in present):
        return "float"
    if all(_DATE.fullmatch(v) for v in present):
        return "date"
    return "string"


_POOLS = {
    "ints": ["0", "7", "-12", "42", "123456789012345678", "-5"],
    "floats": ["1.5", "-0.25", ".5", "3", "1e5", "2.5E-03", "10.50"],
    "traps": ["001", "+5", " 5", "5 ", "1,000", "1_000", "NaN", "inf", "-inf", "0x10", "5.", "1e300", "٣"],
    "bools": ["yes", "No", "TRUE", "false"],
    "dates": ["2020-01-01", "1999-12-31", "2024-02-29"],
    "text": ["a", "b, c", 'say "hi"', "two\nlines", "=1+1", "@x", "-", "ß", "🙂", "NULL", "drop table t;"],
}


def _random_column(rng: random.Random, rows: int) -> list[str]:
    main = rng.choice(["ints", "floats", "bools", "dates", "text"])
    values = [rng.choice(_POOLS[main]) if rng.random() > 0.1 else "" for _ in range(rows)]
    if rng.random() < 0.4:  # one odd value somewhere, often the last row
        odd_pool = rng.choice(["traps", "ints", "floats", "text"])
        values[rng.choice([rows - 1, rng.randrange(rows)])] = rng.choice(_POOLS[odd_pool])
    return values


@pytest.mark.parametrize("sample_rows", [50_000, 3], ids=["whole_file_profile", "guess_then_verify"])
def test_random_files_roundtrip_and_type_like_the_documented_rules(
    tmp_path: Path, ingest: Callable[..., IngestResult], sample_rows: int
) -> None:
    rng = random.Random(20240501)
    seen: set[str] = set()
    for round_ in range(5):
        rows, ncols = rng.randint(1, 40), rng.randint(1, 25)
        columns = {f"c{i} ({round_})": _random_column(rng, rows) for i in range(ncols)}
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(list(columns))
        for r in range(rows):
            writer.writerow([columns[name][r] for name in columns])
        path = tmp_path / f"random{round_}.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
        result = ingest(path, sample_rows=sample_rows)
        back = read_back(result)
        assert result.row_count == rows
        for name, raw in columns.items():
            kind = result.column(name).type
            assert kind == expected_type(raw), (name, raw, kind)
            seen.add(kind)
            got = back[name]
            if kind == "string":
                assert got == [v if v != "" else None for v in raw]
            elif kind in ("integer", "float"):
                assert all(
                    (g is None and v == "") or (g is not None and math.isclose(g, float(v), rel_tol=1e-15))
                    for g, v in zip(got, raw, strict=True)
                ), (name, raw, got)
                if kind == "integer":
                    assert got == [int(v) if v else None for v in raw]
            elif kind == "boolean":
                assert got == [None if v == "" else v.lower() in ("true", "yes") for v in raw]
            elif kind == "date":
                assert [g.isoformat() if g else "" for g in got] == raw
    assert seen == {"string", "integer", "float", "boolean", "date"}
