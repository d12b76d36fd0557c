"""Key-column suggestions and the key checks of the pipeline (unknown ids, allowed duplicates)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from datasets.ingest import IngestError, IngestResult, KeySuggestion, read_csv_header, suggest_key_columns

from .conftest import BAD, GOOD

SUGGESTIONS = [
    (["ursi", "session_num", "age", "sex", "all_studies"], ("ursi", "session_num", "age", "sex", "all_studies")),
    (["customID", "age", "sex"], ("customID", None, "age", "sex", None)),
    (["participant_id", "visit", "Age (years)", "Gender", "site"], ("participant_id", "visit", "Age (years)", "Gender",
                                                                   "site")),
    (["SubjectID", "timepoint", "interview_age", "sex_at_birth", "cohort"], ("SubjectID", "timepoint", "interview_age",
                                                                            "sex_at_birth", "cohort")),
    (["subject", "wave", "AGE", "SEX", "center"], ("subject", "wave", "AGE", "SEX", "center")),
    (["record_id", "redcap_event_name", "stage", "page"], ("record_id", "redcap_event_name", None, None, None)),
    (["session_id", "site_id", "score"], (None, "session_id", None, None, "site_id")),
    (["id", "ursi", "batch", "location"], ("ursi", None, None, None, "location")),
    (["rt_mean", "accuracy", "dropout_flag"], (None, None, None, None, None)),
    ([], (None, None, None, None, None)),
]  # fmt: skip


@pytest.mark.parametrize(("header", "expected"), SUGGESTIONS)
def test_suggest_key_columns(header: list[str], expected: tuple[str | None, ...]) -> None:
    assert suggest_key_columns(header) == KeySuggestion(*expected)


def test_suggestion_is_json_ready() -> None:
    assert suggest_key_columns(["ursi"]).as_dict() == {
        "id": "ursi",
        "session": None,
        "age": None,
        "sex": None,
        "site": None,
    }


def test_read_csv_header_for_the_upload_form() -> None:
    header = read_csv_header(GOOD / "roundtrip.csv")
    assert header == ["participant_id", "session", "age", "note", "Größe (cm)", "体重", "formula", "score"]
    assert read_csv_header(BAD / "bom.csv")[0] == "ursi"
    assert read_csv_header(BAD / "latin1.csv", encoding="latin-1") == ["ursi", "site", "note"]
    assert read_csv_header(BAD / "semicolon.csv", delimiter=";") == ["ursi", "age", "sex"]
    with pytest.raises(IngestError) as info:
        read_csv_header(BAD / "xlsx_renamed.csv")
    assert info.value.code == "archive_content"
    with pytest.raises(IngestError) as info:
        read_csv_header(BAD / "empty.csv")
    assert info.value.code == "empty_file"


def test_unknown_ids_are_a_warning(tmp_path: Path, work_dir: Path, ingest: Callable[..., IngestResult]) -> None:
    demographics = ingest(GOOD / "longitudinal_demographics.csv", id_column="ursi", session_column="session_num")
    known = tmp_path / "demographics.parquet"
    demographics.parquet_path.rename(known)
    result = ingest(
        GOOD / "measure_unknown_ids.csv", id_column="ursi", session_column="session_num", known_ids_parquet=known
    )
    assert result.unknown_id_count == 2
    (warning,) = result.warnings
    assert warning.code == "unknown_ids"
    assert "2 participants" in warning.message and "'SUB009' and 'SUB010'" in warning.message
    assert warning.details == {"count": 2, "examples": ["SUB009", "SUB010"]}
    clean = ingest(
        GOOD / "longitudinal_demographics.csv", id_column="ursi", known_ids_parquet=known, allow_duplicate_keys=True
    )
    assert clean.unknown_id_count == 0
    assert [w.code for w in clean.warnings] == ["duplicate_keys_allowed"]
    assert ingest(GOOD / "crlf.csv", id_column="ursi").unknown_id_count is None


def test_known_ids_column_must_exist(tmp_path: Path, work_dir: Path, ingest: Callable[..., IngestResult]) -> None:
    demographics = ingest(GOOD / "crlf.csv", id_column="ursi")
    known = tmp_path / "demo.parquet"
    demographics.parquet_path.rename(known)
    with pytest.raises(IngestError) as info:
        ingest(GOOD / "crlf.csv", id_column="ursi", known_ids_parquet=known, known_ids_column="participant")
    assert info.value.code == "invalid_options" and "'participant'" in info.value.message
    assert list(work_dir.iterdir()) == []


def test_duplicates_can_be_allowed(ingest: Callable[..., IngestResult]) -> None:
    result = ingest(
        BAD / "duplicate_id_session.csv", id_column="ursi", session_column="session_num", allow_duplicate_keys=True
    )
    (warning,) = result.warnings
    assert warning.code == "duplicate_keys_allowed"
    assert "'SUB001' session 'BAS1' (rows 2 and 5)" in warning.message
    assert result.row_count == 5 and result.participants == 2


def test_cross_sectional_file_with_repeated_ids_is_fine_when_sessions_differ(
    ingest: Callable[..., IngestResult],
) -> None:
    result = ingest(GOOD / "longitudinal_demographics.csv", id_column="ursi", session_column="session_num")
    assert result.warnings == [] and result.participants == 3


INTERNAL_NAMES = ["n", "file_row_number", "k", "v", "col_name", "col_value", "dup_count", "first_row", "key0"]


@pytest.mark.parametrize("extra_columns", [0, 300], ids=["narrow", "wide"])
def test_column_names_used_internally_are_fine(
    tmp_path: Path, ingest: Callable[..., IngestResult], extra_columns: int
) -> None:
    header = INTERNAL_NAMES + [f"x{i}" for i in range(extra_columns)]
    rows = [[f"S{r}", str(r), "a", "1.5", "yes", "2020-01-01", "t", "0", "k"] + ["1"] * extra_columns for r in range(4)]
    path = tmp_path / "names.csv"
    path.write_text("\n".join(",".join(row) for row in [header, *rows]) + "\n")
    result = ingest(path, id_column="n", session_column="key0", sample_rows=2)
    assert [c.name for c in result.columns] == header
    assert result.column("file_row_number").type == "integer"
    assert result.column("v").type == "float" and result.column("col_name").type == "boolean"
    assert result.participants == 4


def test_duplicates_are_reported_without_row_numbers_when_they_cannot_be_computed(
    tmp_path: Path, reject: Callable[..., IngestError]
) -> None:
    path = tmp_path / "clash.csv"
    path.write_text("n,file_row_number\nA,1\nB,2\nA,3\n")
    error = reject(path, id_column="n")
    assert error.code == "duplicate_keys"
    assert "'A' (2 times)" in error.message
    assert error.details["examples"] == [{"key": ["A"], "count": 2, "rows": []}]


@pytest.mark.parametrize(
    ("ids", "rows"),
    [
        (["S1", "   ", "S3"], [3]),  # only spaces: sorts first
        (["S1", "\u3000", "S3"], [3]),  # an ideographic space: sorts last (non-ASCII)
        (["S1", "\u00a0 \u00a0", "\u00e9t\u00e9"], [3]),  # no-break spaces, the maximum is another non-ASCII id
        (["\u00e9t\u00e9", "S2", "\u2003"], [4]),  # em space, not the minimum or the maximum
        (['""', "S2", "S3"], [2]),  # a quoted empty cell is missing
    ],
)
def test_blank_ids_are_found_whatever_their_characters(
    tmp_path: Path, reject: Callable[..., IngestError], ids: list[str], rows: list[int]
) -> None:
    """Empty ids are rejected whether they are NULL, ASCII spaces or non-ASCII spaces, wherever they sort."""
    path = tmp_path / "blank.csv"
    lines = ["ursi,score"] + [f"{i},{n}" for n, i in enumerate(ids)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    error = reject(path, id_column="ursi")
    assert error.code == "empty_ids", error.message
    assert error.details == {"column": "ursi", "count": 1, "rows": rows}


def test_blank_session_in_a_file_of_printable_ids(tmp_path: Path, reject: Callable[..., IngestError]) -> None:
    path = tmp_path / "blank_session.csv"
    path.write_text("ursi,visit,score\nS1,BAS1,1\nS1,\u3000,2\nS2, ,3\n", encoding="utf-8")
    error = reject(path, id_column="ursi", session_column="visit")
    assert error.code == "empty_sessions"
    assert error.details == {"column": "visit", "count": 2, "rows": [3, 4]}


def test_ids_that_start_with_printable_characters_pass(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    """The shortcut that skips counting empty ids keeps ids that merely contain or end with spaces."""
    path = tmp_path / "spaced.csv"
    path.write_text('ursi,score\n"S 1",1\n"S2 ",2\n!x,3\n~y,4\n', encoding="utf-8")
    result = ingest(path, id_column="ursi")
    assert result.row_count == 4 and result.participants == 4
