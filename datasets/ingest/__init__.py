"""Django-free ingest core: CSV file -> validated, typed Parquet file + column statistics.

Public API (everything else in the package is an implementation detail):

* :func:`ingest_csv` with :class:`IngestOptions` -> :class:`IngestResult` (:class:`ColumnProfile` per column),
  raising :class:`IngestError` (stable ``code``) for rejected files.
* :func:`read_csv_header` (exact column names, for the upload form) and :func:`suggest_key_columns`.
* :func:`detect_delimiter` (``,`` ``;`` tab ``|`` from the first lines) and the outside names of delimiters
  (:func:`delimiter_from_name`, :func:`delimiter_name`, :func:`delimiter_label`, :func:`delimiter_choices`).
* :func:`read_bdt_config` / :func:`parse_bdt_config` for BDT ``config.toml`` import, and :func:`read_keys` (BDT's
  reading rules: which configured key columns a demographics header provides).
* :func:`schema_diff` between two versions, :func:`dataset_slug` for a name suggestion.

This package must not import Django or the project's apps (import-linter contract in pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

from core.column_types import COLUMN_TYPES, ColumnType, natural_sort_key
from datasets.ingest.bdt_config import BdtConfig, parse_bdt_config, read_bdt_config
from datasets.ingest.csvparse import header_from_text
from datasets.ingest.delimiters import (
    delimiter_choices,
    delimiter_from_name,
    delimiter_label,
    delimiter_name,
    detect_delimiter,
)
from datasets.ingest.diff import Retyped, SchemaDiff, schema_diff
from datasets.ingest.errors import BINARY_CONTENT, EMPTY_FILE, UNSUPPORTED_ENCODING, IngestError, IngestWarning
from datasets.ingest.keys import KeySuggestion, suggest_key_columns
from datasets.ingest.names import dataset_slug
from datasets.ingest.options import IngestOptions
from datasets.ingest.pipeline import ProgressCallback, ingest_csv
from datasets.ingest.reading import ROLE_LABELS, KeyColumns, KeyReading, read_keys
from datasets.ingest.results import ColumnProfile, Histogram, IngestResult, TopValue
from datasets.ingest.sniff import check_signature, normalize_encoding


def read_csv_header(
    source: Path, *, encoding: str | None = None, delimiter: str | None = None, max_columns: int = 5000
) -> list[str]:
    """The exact column names of ``source``, e.g. to pre-fill the key-column choices of the upload form.

    Reads only the start of the file (at most ``IngestOptions.max_header_bytes``) and applies the cheap checks of
    the pipeline to it (archives, binary formats, header encoding), raising :class:`IngestError` like
    :func:`ingest_csv` would; the full checks happen in :func:`ingest_csv`. ``delimiter=None`` detects it.
    """
    limit = IngestOptions().max_header_bytes
    with Path(source).open("rb") as fh:
        head = fh.read(limit + 4)
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise IngestError(EMPTY_FILE, "The file is empty.")
    check_signature(head)
    declared = normalize_encoding(encoding)
    at_eof = len(head) <= limit
    if declared is None:
        if b"\x00" in head:
            raise IngestError(BINARY_CONTENT, "The file contains binary data, so it is not a CSV text file.")
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if at_eof or exc.start < len(head) - 3:
                raise IngestError(
                    UNSUPPORTED_ENCODING,
                    "The column names are not valid UTF-8 text. Save the file as UTF-8 or declare its encoding.",
                ) from None
            text = head[: exc.start].decode("utf-8")
    else:
        text = head.decode(declared, errors="replace")
    if delimiter is None:
        delimiter = detect_delimiter(text, complete=at_eof)
    return header_from_text(text, delimiter=delimiter, at_eof=at_eof, max_header_bytes=limit, max_columns=max_columns)


__all__ = [
    "COLUMN_TYPES",
    "ROLE_LABELS",
    "BdtConfig",
    "ColumnProfile",
    "ColumnType",
    "Histogram",
    "IngestError",
    "IngestOptions",
    "IngestResult",
    "IngestWarning",
    "KeyColumns",
    "KeyReading",
    "KeySuggestion",
    "ProgressCallback",
    "Retyped",
    "SchemaDiff",
    "TopValue",
    "dataset_slug",
    "delimiter_choices",
    "delimiter_from_name",
    "delimiter_label",
    "delimiter_name",
    "detect_delimiter",
    "ingest_csv",
    "natural_sort_key",
    "parse_bdt_config",
    "read_bdt_config",
    "read_csv_header",
    "read_keys",
    "schema_diff",
    "suggest_key_columns",
]
