"""The CSV peek behind the wizard's key-column preview: first rows only, BOM and encodings, clear errors."""

from __future__ import annotations

import io

import pytest

from studies.preview import PREVIEW_BYTES, PreviewError, csv_preview


def test_header_and_first_ten_rows_exactly_as_written() -> None:
    text = "id,age\n" + "".join(f"00{i},{i}.50\n" for i in range(1, 16))
    preview = csv_preview(io.BytesIO(text.encode()))
    assert preview.header == ["id", "age"]
    assert len(preview.rows) == 10
    assert preview.rows[0] == ["001", "1.50"]  # leading zeros and trailing zeros kept
    assert preview.more is True


def test_byte_order_mark_is_not_part_of_the_first_column_name() -> None:
    preview = csv_preview(io.BytesIO("\ufeffparticipant_id,sex\r\nP1,F\r\n".encode()))
    assert preview.header == ["participant_id", "sex"]
    assert preview.rows == [["P1", "F"]]
    assert preview.more is False


def test_latin1_needs_its_encoding() -> None:
    data = "id,caf\u00e9\n1,cr\u00e8me\n".encode("latin-1")
    with pytest.raises(PreviewError) as error:
        csv_preview(io.BytesIO(data))
    assert error.value.code == "encoding_error"
    assert "latin-1" in error.value.message
    assert csv_preview(io.BytesIO(data), encoding="latin-1").rows == [["1", "cr\u00e8me"]]


def test_unknown_encoding_empty_file_and_binary_are_errors() -> None:
    with pytest.raises(PreviewError, match="Unknown encoding"):
        csv_preview(io.BytesIO(b"a,b\n"), encoding="klingon-8")
    for transform in ("rot13", "hex", "base64", "zlib"):  # byte transforms, no text encodings
        with pytest.raises(PreviewError, match="is not a text encoding"):
            csv_preview(io.BytesIO(b"a,b\n"), encoding=transform)
    with pytest.raises(PreviewError) as empty:
        csv_preview(io.BytesIO(b""))
    assert empty.value.code == "no_header"
    with pytest.raises(PreviewError) as binary:
        csv_preview(io.BytesIO(b"PK\x03\x04\x00\x00\x00binary"))
    assert binary.value.code == "binary_file"


def test_reads_only_the_beginning_of_a_big_file() -> None:
    class CountingReader(io.BytesIO):
        consumed = 0

        def read(self, size: int | None = -1) -> bytes:
            chunk = super().read(size)
            self.consumed += len(chunk)
            return chunk

    big = CountingReader(b"id,value\n" + b"P1,12345678901234567890\n" * 500_000)  # ~12 MB
    preview = csv_preview(big)
    assert preview.header == ["id", "value"] and len(preview.rows) == 10 and preview.more
    assert big.consumed <= PREVIEW_BYTES + 1


def test_a_multibyte_character_cut_at_the_read_limit_is_not_an_error() -> None:
    line = "P1,\u00e9\u00e9\u00e9\u00e9\u00e9\n".encode()
    data = b"id,text\n" + line * (PREVIEW_BYTES // len(line) + 50)
    preview = csv_preview(io.BytesIO(data))
    assert preview.rows[0] == ["P1", "\u00e9\u00e9\u00e9\u00e9\u00e9"]


def test_a_very_wide_header_is_read_past_the_usual_limit() -> None:
    header = ",".join(f"measure_with_a_long_name_{i:05d}" for i in range(3000))  # ~100 KB
    preview = csv_preview(io.BytesIO((header + "\n" + ",".join("1" * 3000) + "\n").encode()))
    assert preview.width == 3000
