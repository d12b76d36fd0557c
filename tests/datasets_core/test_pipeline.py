"""Pipeline mechanics: progress, cancellation and clean-up, sha256, byte sniffing, the Django-free boundary."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from datasets.ingest import IngestError, IngestOptions, IngestResult, ingest_csv
from datasets.ingest.duck import DuckSession
from datasets.ingest.sniff import check_signature, guess_encoding, normalize_encoding

from .conftest import BAD, GOOD

STAGES = ["sniff", "parse", "validate", "types", "parquet", "stats"]


def test_progress_is_monotonic_with_stage_labels(ingest: Callable[..., IngestResult]) -> None:
    events: list[tuple[float, str]] = []
    ingest(
        GOOD / "longitudinal_demographics.csv",
        progress=lambda f, s: events.append((f, s)),
        id_column="ursi",
        session_column="session_num",
    )
    values = [f for f, _ in events]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == 1.0
    assert all(0.0 <= v <= 1.0 for v in values)
    labels = list(dict.fromkeys(s for _, s in events))
    assert labels == [*STAGES, "done"]


def test_progress_during_a_long_statement(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    path = tmp_path / "big.csv"
    path.write_text("id,a,b\n" + "".join(f"S{i},{i},{i * 0.5}\n" for i in range(100_000)))
    events: list[tuple[float, str]] = []
    result = ingest(path, progress=lambda f, s: events.append((f, s)))
    assert result.row_count == 100_000
    assert [f for f, _ in events] == sorted(f for f, _ in events)


@pytest.mark.parametrize("stage", ["sniff", "parse", "parquet", "stats", "done"])
def test_cancel_from_progress_callback_cleans_up(work_dir: Path, stage: str) -> None:
    class Cancelled(Exception):
        pass

    def progress(fraction: float, label: str) -> None:
        if label == stage:
            raise Cancelled

    with pytest.raises(Cancelled):
        ingest_csv(
            BAD / "latin1.csv",
            work_dir=work_dir,
            options=IngestOptions(id_column="ursi", encoding="latin-1"),
            progress=progress,
        )
    assert list(work_dir.iterdir()) == []


def test_success_leaves_only_the_parquet_file(ingest: Callable[..., IngestResult], work_dir: Path) -> None:
    result = ingest(BAD / "latin1.csv", encoding="cp1252")
    assert list(work_dir.iterdir()) == [result.parquet_path]
    assert result.parquet_path.parent == work_dir and result.parquet_path.suffix == ".parquet"


def test_sha256_and_size_of_the_original_bytes(ingest: Callable[..., IngestResult]) -> None:
    path = GOOD / "roundtrip.csv"
    result = ingest(path)
    data = path.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size_bytes == len(data)


def test_work_dir_is_created(tmp_path: Path) -> None:
    work = tmp_path / "new" / "dir"
    result = ingest_csv(GOOD / "crlf.csv", work_dir=work, options=IngestOptions())
    assert result.parquet_path.parent == work


def test_other_files_in_work_dir_are_left_alone(work_dir: Path) -> None:
    mine = work_dir / "keep.txt"
    mine.write_text("x")
    with pytest.raises(IngestError):
        ingest_csv(BAD / "ragged.csv", work_dir=work_dir, options=IngestOptions())
    assert list(work_dir.iterdir()) == [mine]


@pytest.mark.parametrize(
    "options",
    [
        {"delimiter": ";;"},
        {"delimiter": '"'},
        {"id_column": " "},
        {"id_column": "a", "session_column": "a"},
        {"row_group_size": 10},
        {"max_columns": 0},
    ],
)
def test_invalid_options(work_dir: Path, options: dict[str, object]) -> None:
    with pytest.raises(IngestError) as info:
        ingest_csv(GOOD / "crlf.csv", work_dir=work_dir, options=IngestOptions(**options))  # type: ignore[arg-type]
    assert info.value.code == "invalid_options"


def test_other_delimiters(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    tsv = tmp_path / "t.tsv"
    tsv.write_text("ursi\tnote\nSUB001\ta, b\n")
    result = ingest(tsv, delimiter="\t", id_column="ursi")
    assert result.schema == [("ursi", "string"), ("note", "string")]
    assert ingest(BAD / "semicolon.csv", delimiter=";", id_column="ursi").row_count == 1


def test_signatures_and_encoding_guess() -> None:
    check_signature(b"ursi,age\nPK,1\n")  # text that merely contains signature bytes later is fine
    check_signature(b"BZh is a fine column name\n")
    for head, code in [
        (b"PK\x03\x04rest", "archive_content"),
        (b"\x1f\x8b\x08", "archive_content"),
        (b"%PDF-1.4", "binary_content"),
    ]:
        with pytest.raises(IngestError) as info:
            check_signature(head)
        assert info.value.code == code
    assert guess_encoding("café".encode("latin-1")) == ("cp1252", "Windows-1252 / Latin-1 (Western European)")
    assert guess_encoding("\u201cq\u201d".encode("cp1252"))[0] == "cp1252"  # type: ignore[index]
    assert guess_encoding(b"\x81\x8d\x8f") is None
    assert guess_encoding(b"plain ascii") is None
    assert normalize_encoding("UTF-8") is None and normalize_encoding("utf8") is None
    assert normalize_encoding("latin-1") == "iso8859-1" and normalize_encoding("Windows-1252") == "cp1252"


def test_duck_session_interrupts_when_callback_raises(tmp_path: Path) -> None:
    with DuckSession(temp_dir=tmp_path / "spill") as session:
        calls = []

        def stop(fraction: float) -> None:
            calls.append(fraction)
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            session.fetchall("SELECT count(*) FROM range(3000000000) t(i) WHERE i % 7 = 3", on_progress=stop)
        assert calls
        assert session.fetchone("SELECT 42") == (42,)


def test_ingest_core_imports_no_django() -> None:
    code = (
        "import sys, datasets.ingest;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('django', 'ninja', 'bdt_project', 'tenants', 'queries', 'audit', 'guardian', 'allauth')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
