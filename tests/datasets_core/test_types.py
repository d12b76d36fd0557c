"""Type inference rules (documented in datasets.ingest.types) over the whole file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from datasets.ingest import IngestResult
from datasets.ingest.types import TYPE_BITS, WIDE_COLUMNS, type_predicate_sql, value_mask_sql

from .conftest import read_back

# column -> (four values, expected type)
TABLE: dict[str, tuple[list[str], str]] = {
    "ints": (["1", "-2", "0", "30"], "integer"),
    "zero_one": (["0", "1", "1", "0"], "integer"),
    "minus_zero": (["-0", "1", "2", "3"], "integer"),
    "int18": (["123456789012345678", "-123456789012345678", "1", "2"], "integer"),
    "int20": (["12345678901234567890", "1", "2", "3"], "string"),
    "leading_zero": (["001", "2", "3", "4"], "string"),
    "leading_zero_float": (["007.5", "2", "3", "4"], "string"),
    "plus": (["+5", "6", "7", "8"], "string"),
    "space_before": ([" 5", "6", "7", "8"], "string"),
    "space_after": (["5 ", "6", "7", "8"], "string"),
    "thousands": (["1,000", "2", "3", "4"], "string"),
    "decimal_comma": (["1,5", "2", "3", "4"], "string"),
    "underscore": (["1_000", "2", "3", "4"], "string"),
    "hex": (["0x10", "1", "2", "3"], "string"),
    "nan": (["NaN", "1", "2", "3"], "string"),
    "inf": (["inf", "1", "2", "3"], "string"),
    "minus_inf": (["-inf", "1", "2", "3"], "string"),
    "trailing_dot": (["5.", "1", "2", "3"], "string"),
    "exponent": (["1e5", "2.5E-03", "3", "-4e+2"], "float"),
    "big_exponent": (["1e300", "1", "2", "3"], "string"),
    "floats": (["1.5", "-0.25", ".5", "10.50"], "float"),
    "int_and_float": (["1", "1.0", "2", "3"], "float"),
    "bools": (["yes", "No", "TRUE", "false"], "boolean"),
    "bools_missing": (["yes", "", "no", ""], "boolean"),
    "t_f": (["t", "f", "t", "f"], "string"),
    "y_n": (["y", "n", "Y", "N"], "string"),
    "bool_and_int": (["yes", "1", "no", "0"], "string"),
    "dates": (["2020-01-01", "2021-12-31", "", "2000-02-29"], "date"),
    "impossible_date": (["2020-02-30", "2020-01-01", "2020-01-02", "2020-01-03"], "string"),
    "us_dates": (["03/04/2020", "04/05/2020", "05/06/2020", "06/07/2020"], "string"),
    "timestamps": (
        ["2020-01-01 10:00", "2020-01-01T10:00:05", "2020-01-01 10:00:05.123456", "2020-01-02"],
        "timestamp",
    ),
    "time_zone": (["2020-01-01T10:00:00Z", "2020-01-01T10:00:00+02:00", "", ""], "string"),
    "empty": (["", "", "", ""], "string"),
    "text": (["a", "b", "c", "d"], "string"),
    "na_token": (["NA", "1", "2", "3"], "string"),
}


def _write(path: Path, columns: dict[str, list[str]]) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(columns))
    rows = len(next(iter(columns.values())))
    for r in range(rows):
        writer.writerow([values[r] for values in columns.values()])
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return path


@pytest.mark.parametrize("sample_rows", [50_000, 2], ids=["sample_is_whole_file", "guess_then_verify"])
def test_type_table(tmp_path: Path, ingest: Callable[..., IngestResult], sample_rows: int) -> None:
    path = _write(tmp_path / "types.csv", {name: values for name, (values, _) in TABLE.items()})
    result = ingest(path, sample_rows=sample_rows)
    decided = {c.name: c.type for c in result.columns}
    assert decided == {name: kind for name, (_, kind) in TABLE.items()}
    back = read_back(result)
    assert back["int18"][:2] == [123456789012345678, -123456789012345678], "18-digit integers are exact"
    assert back["exponent"] == [100000.0, 0.0025, 3.0, -400.0]
    assert back["bools"] == [True, False, True, False]
    assert back["dates"] == [dt.date(2020, 1, 1), dt.date(2021, 12, 31), None, dt.date(2000, 2, 29)]
    assert back["timestamps"] == [
        dt.datetime(2020, 1, 1, 10, 0),
        dt.datetime(2020, 1, 1, 10, 0, 5),
        dt.datetime(2020, 1, 1, 10, 0, 5, 123456),
        dt.datetime(2020, 1, 2, 0, 0),
    ]
    for name, (values, kind) in TABLE.items():
        if kind == "string":
            assert back[name] == [v or None for v in values], name
    assert result.column("empty").missing == 4
    assert [w.code for w in result.warnings] == ["empty_columns"]
    assert "'empty'" in result.warnings[0].message


def test_whole_file_is_inspected_not_a_sample(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    rows = 300_000
    lines = ["ursi,late_float,late_text,late_zero,steady"]
    lines += [f"S{i},{i % 97},{i % 13},{i % 7 + 1},{i % 5}" for i in range(rows - 1)]
    lines.append("S_last,1.5,x,01,4")
    path = tmp_path / "tall.csv"
    path.write_text("\n".join(lines) + "\n")
    result = ingest(path, id_column="ursi")
    assert result.row_count == rows
    assert "type_fallback" in result.timings, "the guess from the first rows was wrong and must have been redone"
    assert dict(result.schema) == {
        "ursi": "string",
        "late_float": "float",
        "late_text": "string",
        "late_zero": "string",
        "steady": "integer",
    }
    back = read_back(result)
    assert back["late_float"][-1] == 1.5 and back["late_float"][0] == 0.0
    assert back["late_text"][-1] == "x" and back["late_zero"][-1] == "01" and back["late_zero"][0] == "1"


def test_key_and_text_columns_stay_strings(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    path = _write(
        tmp_path / "keys.csv",
        {"id": ["1", "2", "3"], "visit": ["1", "2", "3"], "zip": ["10115", "80331", "20095"], "n": ["1", "2", "3"]},
    )
    result = ingest(path, id_column="id", session_column="visit", text_columns=("zip", "not_there"))
    assert dict(result.schema) == {"id": "string", "visit": "string", "zip": "string", "n": "integer"}
    assert read_back(result)["zip"] == ["10115", "80331", "20095"]
    assert [w.code for w in result.warnings] == ["unknown_text_columns"]
    assert "'not_there'" in result.warnings[0].message


def test_declared_missing_values(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    path = _write(tmp_path / "na.csv", {"id": ["a", "b", "c"], "score": ["NA", "2", "3"], "label": ["x", "NA", ""]})
    result = ingest(path, missing_values=("NA",))
    assert result.column("score").type == "integer"
    assert read_back(result) == {"id": ["a", "b", "c"], "score": [None, 2, 3], "label": ["x", None, None]}
    assert result.column("score").missing == 1 and result.column("label").missing == 2


def test_quoted_empty_string_is_missing(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    path = tmp_path / "q.csv"
    path.write_text('id,n,s\na,"",""\nb,2,x\n')
    result = ingest(path)
    assert read_back(result) == {"id": ["a", "b"], "n": [None, 2], "s": [None, "x"]}


@pytest.mark.parametrize(
    ("columns", "sample_rows"), [(WIDE_COLUMNS + 1, 50_000), (WIDE_COLUMNS + 1, 3), (1200, 50_000)]
)
def test_wide_files_use_the_same_rules(
    tmp_path: Path, ingest: Callable[..., IngestResult], columns: int, sample_rows: int
) -> None:
    data = {"id": [f"S{r}" for r in range(6)]}
    kinds = ["1", "1.5", "01", "yes", "2020-01-01", ""]
    for c in range(columns - 1):
        value = kinds[c % len(kinds)]
        data[f"v{c}"] = [value] * 5 + ([value] if c % 11 else ["oops"])
    result = ingest(_write(tmp_path / "wide.csv", data), id_column="id", sample_rows=sample_rows)
    expected = {"1": "integer", "1.5": "float", "01": "string", "yes": "boolean", "2020-01-01": "date", "": "string"}
    for c in range(columns - 1):
        kind = expected[kinds[c % len(kinds)]] if c % 11 else "string"
        assert result.column(f"v{c}").type == kind, c
    assert result.row_count == 6 and result.column_count == columns


def test_types_guessed_from_first_rows_are_verified_in_one_pass(
    tmp_path: Path, ingest: Callable[..., IngestResult]
) -> None:
    rows = 2_000
    data = {
        "id": [f"S{i}" for i in range(rows)],
        "n": [str(i - 50) for i in range(rows)],
        "x": [f"{i / 7:.4f}" for i in range(rows)],
        "flag": ["yes" if i % 3 else "NO" for i in range(rows)],
        "day": [f"2021-03-{i % 28 + 1:02d}" for i in range(rows)],
        "at": [f"2021-03-01T{i % 24:02d}:00:00" for i in range(rows)],
        "text": [f"t{i}" for i in range(rows)],
    }
    result = ingest(_write(tmp_path / "clean.csv", data), id_column="id", sample_rows=100)
    assert "type_fallback" not in result.timings
    assert dict(result.schema) == {
        "id": "string",
        "n": "integer",
        "x": "float",
        "flag": "boolean",
        "day": "date",
        "at": "timestamp",
        "text": "string",
    }
    back = read_back(result)
    assert back["n"] == [i - 50 for i in range(rows)]
    assert back["flag"][:3] == [False, True, True]
    assert back["at"][1] == dt.datetime(2021, 3, 1, 1, 0)


@pytest.mark.parametrize("late", ["1.5", "01", "x", "+1", "2021-13-01"])
def test_a_late_misfit_falls_back_to_the_whole_file_profile(
    tmp_path: Path, ingest: Callable[..., IngestResult], late: str
) -> None:
    values = [str(i) for i in range(300)] + [late]
    result = ingest(_write(tmp_path / "late.csv", {"v": values}), sample_rows=50)
    assert result.timings.get("type_fallback") is not None
    expected = "float" if late == "1.5" else "string"
    assert result.column("v").type == expected
    assert read_back(result)["v"][-1] == (1.5 if late == "1.5" else late)


def test_columns_empty_in_the_sample_are_typed_from_the_whole_file(
    tmp_path: Path, ingest: Callable[..., IngestResult]
) -> None:
    data = {"id": [str(i) for i in range(40)], "late": [""] * 30 + [str(i) for i in range(10)]}
    result = ingest(_write(tmp_path / "sparse.csv", data), sample_rows=10)
    assert result.column("late").type == "integer"
    assert result.column("late").missing == 30


def test_single_type_predicates_match_the_profile_mask() -> None:
    rng = random.Random(5)
    alphabet = "0123456789-+.eE :T_x,/"
    corpus = [
        *(v for values, _ in TABLE.values() for v in values if v),
        *["0", "-0", "-", ".", "-.", ".5", "-.5", "5.", "1e", "1e+", "1e-05", "1E99", "1e100", "-1.5e-3"],
        *["123456789012345678", "1234567890123456789", "-123456789012345678", "-1234567890123456789"],
        *["12345678901234567890.5", "1e5e5", "--1", "1-2", "2020-01-01", "2020-1-01", "2020-01-01T25:00"],
        *["2020-01-01 23:59:59.999999", "2020-01-01 23:59:59.9999999", "9999-12-31", "0000-01-01", "yes", "YES"],
        *["Yes ", "nO", "truee", "fals", "tru", "n", "e5", "E5", "-e5", "1.e5", ".e5", "1.5E+07", "00", "0.0"],
        *("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 22))) for _ in range(3000)),
    ]
    items = [f"(({value_mask_sql('v')}) & {bit}) <> 0 AS m_{t}" for t, bit in TYPE_BITS.items()]
    items += [f"{type_predicate_sql('v', t)} AS p_{t}" for t in TYPE_BITS]
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT v, {', '.join(items)} FROM (SELECT unnest($vals) AS v)", {"vals": corpus}
        ).fetchall()
    n = len(TYPE_BITS)
    mismatches = [(row[0], list(TYPE_BITS)[i]) for row in rows for i in range(n) if row[1 + i] != row[1 + n + i]]
    assert mismatches == []
    assert sum(bool(row[1 + list(TYPE_BITS).index("float")]) for row in rows) > 100
