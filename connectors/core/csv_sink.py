"""Rows -> one CSV file for the ingest job: a stable text form of each value and a size limit while writing."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from connectors.core.contract_errors import ConnectorError


def cell_text(value: Any) -> str:
    """The CSV text of one value: empty for NULL, ``true``/``false``, ISO dates, plain decimals."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


class CsvSink:
    """Write a header and rows to ``path`` (UTF-8, ``\\n``), refusing to grow past ``max_bytes``."""

    def __init__(self, path: Path, header: Sequence[str], max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.rows = 0
        self._handle = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        self._writer = csv.writer(self._handle, lineterminator="\n")
        self._writer.writerow(list(header))

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self._writer.writerow([cell_text(value) for value in row])
            self.rows += 1
        if self._handle.tell() > self.max_bytes:
            raise ConnectorError(
                "source_too_large",
                f"The source is larger than this workspace's upload limit of {self.max_bytes:,} bytes.",
            )

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> CsvSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
