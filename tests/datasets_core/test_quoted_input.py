"""Messages and details quote the file's values only in part: every quoted header name or key value is cut at 200
characters (docs/contract.md), however long it is in the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasets.ingest import IngestError, IngestResult

LONG = 1_000_000  # characters of one header name or id value (within the 4 MiB header and 8 MiB line limits)
CUT = 200


def _cut(text: str, letter: str) -> None:
    """``text`` quotes the run of ``letter`` cut at 200 characters, never more."""
    assert letter * (CUT - 1) + "\u2026" in text and letter * CUT not in text


def _details_cut(value: Any) -> None:
    if isinstance(value, str):
        assert len(value) <= CUT
    elif isinstance(value, dict):
        for item in value.values():
            _details_cut(item)
    elif isinstance(value, list):
        for item in value:
            _details_cut(item)


def test_a_very_long_header_name_is_cut_when_the_id_column_is_missing(
    tmp_path: Path, reject: Callable[..., IngestError]
) -> None:
    source = tmp_path / "wide.csv"
    source.write_text(f"{'h' * LONG},Participant_ID\n1,2\n")
    error = reject(source, id_column="participant_id")
    assert error.code == "missing_id_column"
    _cut(error.message, "h")
    assert "'Participant_ID'" in error.message  # the near match is still named in full
    assert len(error.message) < 2_000
    _details_cut(error.details)


def test_a_very_long_id_value_is_cut_in_the_duplicate_keys_message(
    tmp_path: Path, reject: Callable[..., IngestError]
) -> None:
    source = tmp_path / "dup.csv"
    source.write_text(f"participant_id,age\n{'i' * LONG},1\n{'i' * LONG},2\n")
    error = reject(source, id_column="participant_id")
    assert error.code == "duplicate_keys"
    _cut(error.message, "i")
    assert len(error.message) < 2_000
    _details_cut(error.details)


def test_very_long_unknown_ids_are_cut_in_the_warning(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    demographics = tmp_path / "demographics.csv"
    demographics.write_text("participant_id,age\nP1,30\n")
    known = tmp_path / "demographics.parquet"
    ingest(demographics, id_column="participant_id").parquet_path.rename(known)
    measure = tmp_path / "measure.csv"
    measure.write_text(f"participant_id,score\nP1,1\n{'u' * LONG},2\n{'v' * LONG},3\n")
    result = ingest(measure, id_column="participant_id", known_ids_parquet=known)
    (warning,) = result.warnings
    assert warning.code == "unknown_ids" and result.unknown_id_count == 2
    _cut(warning.message, "u")
    _cut(warning.message, "v")
    assert len(warning.message) < 2_000
    _details_cut(warning.details)
