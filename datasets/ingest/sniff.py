"""Byte-level checks before any CSV parsing: size, archives and binary formats, encoding, sha256.

One streaming pass over the original bytes (never the whole file in memory) computes the sha256, rejects NUL bytes
and validates UTF-8. When the caller declares another encoding the same pass converts the file to a UTF-8 copy in
the work directory, which is what DuckDB then reads. Rules:

* A file of zero bytes, or of only blank lines / a byte order mark, is ``empty_file``.
* ZIP (also .xlsx/.ods/.docx, which are ZIP files), gzip, bzip2, xz, 7z, rar and zstd signatures at the start are
  ``archive_content`` whatever the file name says. Known binary formats (.xls, PDF, Parquet, SQLite, SPSS, Stata,
  images) and any NUL byte are ``binary_content``.
* Undeclared: UTF-8 with or without BOM is accepted. UTF-16/32 (BOM or NUL pattern) and invalid UTF-8 are
  ``unsupported_encoding``, naming the line of the first bad byte, the likely encoding (Windows-1252/Latin-1 when the
  bytes fit) and how to declare it.
* Declared (e.g. ``latin-1``, ``cp1252``, ``utf-16``): bytes that do not decode in that encoding are
  ``unsupported_encoding`` with the line number.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from datasets.ingest.encodings import EncodingRefused, text_encoding
from datasets.ingest.errors import (
    ARCHIVE_CONTENT,
    BINARY_CONTENT,
    EMPTY_FILE,
    FILE_TOO_LARGE,
    INVALID_OPTIONS,
    UNSUPPORTED_ENCODING,
    IngestError,
    clipped,
)

CHUNK = 1024 * 1024
HEAD = 64 * 1024
UTF8_BOM = b"\xef\xbb\xbf"
_BLANK = b" \t\r\n"
_UTF8_NAMES = {"utf-8", "utf8", "utf-8-sig", "utf_8", "utf_8_sig", "u8"}

_ARCHIVE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PK\x07\x08", "zip"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file"),
)

_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls) or another old Microsoft Office file"),
    (b"%PDF-", "a PDF document"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"$FL2", "an SPSS data file (.sav)"),
    (b"$FL3", "an SPSS data file (.sav)"),
    (b"<stata_dta>", "a Stata data file (.dta)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
)

_SAVE_AS_CSV = 'In Excel use File > Save As > "CSV UTF-8 (Comma delimited)" and upload that file.'


@dataclass(frozen=True)
class SniffResult:
    """Outcome of the byte scan. ``csv_path`` is the UTF-8 file to parse (the source or a converted copy)."""

    sha256: str
    size_bytes: int
    encoding: str
    csv_path: Path
    converted: bool


def normalize_encoding(name: str | None) -> str | None:
    """``None`` for UTF-8 in any spelling, else the codec's canonical name (``"latin-1"`` -> ``"iso8859-1"``);
    ``IngestError(invalid_options)`` for a name that is no text encoding (``rot13``, ``zlib``...)."""
    if name is None or name.strip().lower().replace(" ", "") in _UTF8_NAMES:
        return None
    try:
        return text_encoding(name)
    except EncodingRefused as exc:
        raise IngestError(INVALID_OPTIONS, exc.message, {"encoding": clipped(name.strip())}) from None


def check_signature(head: bytes) -> None:
    """Reject archives and known binary formats by their first bytes."""
    for magic, label in _ARCHIVE_SIGNATURES:
        if head.startswith(magic):
            if label == "zip":
                label = _zip_flavour(head)
            hint = _SAVE_AS_CSV if "workbook" in label or "spreadsheet" in label else "Unpack it and upload the CSV."
            raise IngestError(
                ARCHIVE_CONTENT,
                f"This file is {label}, not a CSV text file (whatever its name says). {hint}",
                {"detected": label},
            )
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[4:10] == b"1AY&SY":
        raise IngestError(
            ARCHIVE_CONTENT,
            "This file is bzip2-compressed, not a CSV text file. Unpack it and upload the CSV.",
            {"detected": "bzip2"},
        )
    for magic, label in _BINARY_SIGNATURES:
        if head.startswith(magic):
            hint = _SAVE_AS_CSV if "Excel" in label else "Export the data as a CSV file and upload that."
            raise IngestError(BINARY_CONTENT, f"This file is {label}, not a CSV text file. {hint}", {"detected": label})


def _zip_flavour(head: bytes) -> str:
    if b"xl/" in head:
        return "an Excel workbook (.xlsx)"
    if b"opendocument.spreadsheet" in head:
        return "an OpenDocument spreadsheet (.ods)"
    if b"word/" in head:
        return "a Word document (.docx)"
    return "a ZIP archive"


def _utf16_hint(head: bytes) -> str | None:
    """Name a UTF-16/32 encoding recognised from a BOM or from the NUL pattern of ASCII text, else None."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    sample = head[:4096]
    if len(sample) >= 8:
        odd_nuls = sample[1::2].count(0)
        even_nuls = sample[0::2].count(0)
        half = len(sample) // 2
        if odd_nuls > 0.4 * half and even_nuls < 0.05 * half:
            return "utf-16-le"
        if even_nuls > 0.4 * half and odd_nuls < 0.05 * half:
            return "utf-16-be"
    return None


def guess_encoding(sample: bytes) -> tuple[str, str] | None:
    """(codec name, human label) of a likely 8-bit encoding of ``sample``, or None when nothing fits."""
    high = {b for b in sample if b >= 0x80}
    if not high:
        return None
    if any(0x80 <= b <= 0x9F for b in high):
        try:
            sample.decode("cp1252")
        except UnicodeDecodeError:
            return None
        return "cp1252", "Windows-1252 (Western European, as saved by Excel on Windows)"
    return "cp1252", "Windows-1252 / Latin-1 (Western European)"


def line_of_offset(path: Path, offset: int) -> int:
    """1-based physical line number of the byte at ``offset``."""
    newlines = 0
    remaining = offset
    with path.open("rb") as fh:
        while remaining > 0:
            block = fh.read(min(CHUNK, remaining))
            if not block:
                break
            newlines += block.count(b"\n")
            remaining -= len(block)
    return newlines + 1


def _has_content(block: bytes) -> bool:
    return bool(block.replace(UTF8_BOM, b"").strip(_BLANK))


def scan_source(
    source: Path,
    *,
    encoding: str | None,
    max_bytes: int,
    converted_path: Path,
    on_progress: Callable[[float], None] | None = None,
) -> SniffResult:
    """Check the bytes of ``source`` and return its sha256 and the UTF-8 file to parse.

    ``converted_path`` is where a declared non-UTF-8 file is converted to (the caller owns and cleans it up).
    """
    size = source.stat().st_size
    if size == 0:
        raise IngestError(EMPTY_FILE, "The file is empty (0 bytes).", {"size_bytes": 0})
    if size > max_bytes:
        raise IngestError(
            FILE_TOO_LARGE,
            f"The file is {_megabytes(size)}, more than the limit of {_megabytes(max_bytes)}.",
            {"size_bytes": size, "max_bytes": max_bytes},
        )
    declared = normalize_encoding(encoding)
    with source.open("rb") as fh:
        head = fh.read(HEAD)
    check_signature(head)
    if declared is None:
        hint = _utf16_hint(head)
        if hint is not None:
            raise IngestError(
                UNSUPPORTED_ENCODING,
                f"The file is {hint.upper()} encoded, not UTF-8. Save it as UTF-8 (in Excel: "
                f'"CSV UTF-8"), or declare the encoding "{hint}" when uploading.',
                {"likely_encoding": hint},
            )
        digest, has_content = _scan_utf8(source, size, on_progress)
        used = "utf-8-sig" if head.startswith(UTF8_BOM) else "utf-8"
        csv_path, converted = source, False
    else:
        digest, has_content = _convert(source, size, declared, converted_path, on_progress)
        used, csv_path, converted = declared, converted_path, True
    if not has_content:
        raise IngestError(EMPTY_FILE, "The file contains no data (only blank lines).", {"size_bytes": size})
    return SniffResult(sha256=digest, size_bytes=size, encoding=used, csv_path=csv_path, converted=converted)


def _scan_utf8(source: Path, size: int, on_progress: Callable[[float], None] | None) -> tuple[str, bool]:
    sha = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0
    has_content = False
    next_report = 16 * CHUNK
    with source.open("rb") as fh:
        while block := fh.read(CHUNK):
            sha.update(block)
            if b"\x00" in block:
                _raise_nul(source, offset + block.index(b"\x00"))
            if not block.isascii() or decoder.getstate()[0]:  # ASCII after a complete character is valid UTF-8
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    sample = block[max(0, exc.start - 4096) : exc.start + 4096]
                    _raise_not_utf8(source, offset + exc.start, sample, block[exc.start])
            if not has_content:
                has_content = _has_content(block)
            offset += len(block)
            if on_progress is not None and offset >= next_report:
                on_progress(offset / size)
                next_report += 16 * CHUNK
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            _raise_not_utf8(source, max(0, offset - 1), b"", None)
    return sha.hexdigest(), has_content


def _convert(
    source: Path, size: int, declared: str, target: Path, on_progress: Callable[[float], None] | None
) -> tuple[str, bool]:
    sha = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(declared)("strict")
    offset = 0
    lines = 0
    first = True
    has_content = False
    next_report = 16 * CHUNK
    with source.open("rb") as fh, target.open("w", encoding="utf-8", newline="") as out:
        while block := fh.read(CHUNK):
            sha.update(block)
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as exc:
                _raise_bad_declared(source, declared, offset + exc.start, block[exc.start : exc.start + 1])
            if first and text:
                text = text.removeprefix("\ufeff")
                first = False
            if "\x00" in text:
                line = lines + text.count("\n", 0, text.index("\x00")) + 1
                raise IngestError(
                    BINARY_CONTENT,
                    f"The file contains binary data (a NUL character on line {line:,}), so it is not a CSV text "
                    "file. Export the data as CSV and upload that file.",
                    {"line": line},
                )
            lines += text.count("\n")
            if not has_content:
                has_content = bool(text.strip())
            out.write(text)
            offset += len(block)
            if on_progress is not None and offset >= next_report:
                on_progress(offset / size)
                next_report += 16 * CHUNK
        try:
            out.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError:
            _raise_bad_declared(source, declared, max(0, offset - 1), b"")
    return sha.hexdigest(), has_content


def _raise_nul(source: Path, offset: int) -> None:
    line = line_of_offset(source, offset)
    raise IngestError(
        BINARY_CONTENT,
        f"The file contains binary data (a NUL byte on line {line:,}), so it is not a CSV text file. "
        "Export the data as CSV and upload that file.",
        {"line": line, "byte_offset": offset},
    )


def _raise_not_utf8(source: Path, offset: int, sample: bytes, bad: int | None) -> None:
    line = line_of_offset(source, offset)
    guess = guess_encoding(sample)
    where = f"line {line:,}" + (f", byte 0x{bad:02X}" if bad is not None else "")
    details: dict[str, object] = {"line": line, "byte_offset": offset}
    if guess is not None:
        codec, label = guess
        details["likely_encoding"] = codec
        advice = (
            f'It looks like {label}. Save it as UTF-8 (in Excel: "CSV UTF-8"), or declare the encoding '
            f'"{codec}" when uploading.'
        )
    else:
        advice = 'Save it as UTF-8 (in Excel: "CSV UTF-8"), or declare its encoding when uploading.'
    raise IngestError(
        UNSUPPORTED_ENCODING, f"The file is not valid UTF-8 text (first problem on {where}). {advice}", details
    )


def _raise_bad_declared(source: Path, declared: str, offset: int, bad: bytes) -> None:
    line = line_of_offset(source, offset)
    byte = f", byte 0x{bad[0]:02X}" if bad else ""
    raise IngestError(
        UNSUPPORTED_ENCODING,
        f'The file cannot be read as "{declared}" (first problem on line {line:,}{byte}). '
        "Check the declared encoding, or save the file as UTF-8 and upload it without declaring one.",
        {"line": line, "byte_offset": offset, "declared_encoding": declared},
    )


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB"
