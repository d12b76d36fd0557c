"""A peek at a CSV: its header and first rows, read from the first few KB only (never the whole file).

Used by the study setup wizard to show the uploaded demographics table while the user confirms the key columns.
The separator is detected like the ingest does (:func:`datasets.ingest.detect_delimiter`) unless given, so the
preview shows the columns the ingest will read. Django-free: works on any binary file object or path.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from datasets.ingest.delimiters import detect_delimiter
from datasets.ingest.encodings import EncodingRefused, text_encoding

PREVIEW_BYTES = 64 * 1024
MAX_HEADER_BYTES = 2 * 1024 * 1024  # a very wide header is read further, up to this
PREVIEW_ROWS = 10
MAX_CELL_CHARS = 200


class BinaryReader(Protocol):
    """A readable, seekable binary file (an open file, BytesIO, or a Django File/UploadedFile)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...


class PreviewError(ValueError):
    """The file's beginning cannot be read as CSV text (wrong encoding, binary, no header)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class CsvPreview:
    """The header and the first rows of a CSV file (cells as text, exactly as in the file)."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    encoding: str = "utf-8"
    more: bool = False  # the file has more rows than shown
    delimiter: str = ","
    delimiter_detected: bool = False

    @property
    def width(self) -> int:
        return len(self.header)


def _decode(data: bytes, encoding: str | None, complete: bool) -> tuple[str, str]:
    """Decode ``data`` (the file's first bytes); a multi-byte character cut at the end is dropped, not an error."""
    name = (encoding or "utf-8").strip() or "utf-8"
    try:
        info = codecs.lookup(text_encoding(name))
    except EncodingRefused as exc:
        raise PreviewError("unknown_encoding", exc.message) from None
    if info.name == "utf-8":
        name = "utf-8-sig"  # tolerate a byte-order mark
    decoder = codecs.getincrementaldecoder(name)(errors="strict")
    try:
        text = decoder.decode(data, final=complete)
    except UnicodeDecodeError as exc:
        raise PreviewError(
            "encoding_error",
            f"The file is not valid {info.name} text (byte {exc.start + 1}). "
            "Choose the right encoding (e.g. latin-1) or save the file as UTF-8.",
        ) from exc
    return text, info.name


def csv_preview_bytes(
    data: bytes,
    *,
    complete: bool,
    encoding: str | None = None,
    delimiter: str | None = None,
    rows: int = PREVIEW_ROWS,
) -> CsvPreview:
    """Preview of a CSV whose first bytes are ``data``; ``complete`` says whether ``data`` is the whole file.

    ``delimiter=None`` detects the separator from the text read.
    """
    if b"\x00" in data[:PREVIEW_BYTES]:
        raise PreviewError("binary_file", "This does not look like a CSV text file (it contains NUL bytes).")
    text, used = _decode(data, encoding, complete)
    if not complete:
        # The last line may be cut in the middle: keep only whole lines.
        cut = max(text.rfind("\n"), text.rfind("\r"))
        if cut < 0:
            raise PreviewError("header_too_long", "The first line of the file is too long to show a preview.")
        text = text[: cut + 1]
    detected = delimiter is None
    separator = detect_delimiter(text, complete=complete) if delimiter is None else delimiter
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise PreviewError("no_header", "The file is empty or its first line has no column names.")
        collected: list[list[str]] = []
        more = False
        for record in reader:
            if not record:
                continue
            if len(collected) >= rows:
                more = True
                break
            collected.append([cell[:MAX_CELL_CHARS] for cell in record])
    except csv.Error as exc:
        raise PreviewError("invalid_csv", f"The beginning of the file is not valid CSV: {exc}.") from exc
    if not complete and not more:
        more = True  # rows we did not read may follow
    return CsvPreview(
        header=header, rows=collected, encoding=used, more=more, delimiter=separator, delimiter_detected=detected
    )


def csv_preview(
    source: BinaryReader | Path | str,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    rows: int = PREVIEW_ROWS,
    limit: int = PREVIEW_BYTES,
) -> CsvPreview:
    """Header and first ``rows`` rows of a CSV file or binary file object, reading at most ``limit`` bytes."""
    if isinstance(source, str | Path):
        with open(source, "rb") as handle:
            return csv_preview(handle, encoding=encoding, delimiter=delimiter, rows=rows, limit=limit)
    source.seek(0)
    data = source.read(limit + 1)
    complete = len(data) <= limit
    while not complete and b"\n" not in data and b"\r" not in data and len(data) < MAX_HEADER_BYTES:
        chunk = source.read(limit)
        complete = not chunk
        data += chunk
    if not complete and len(data) > limit and (b"\n" in data[:limit] or b"\r" in data[:limit]):
        data = data[:limit]
    return csv_preview_bytes(data, complete=complete, encoding=encoding, delimiter=delimiter, rows=rows)
