"""Which character separates the values of a file: ``,`` ``;`` tab or ``|``, chosen from its first lines.

BDT read every table with DuckDB's ``read_csv_auto``, so semicolon-, tab- and pipe-separated files worked there.
Here the choice is ours, deterministic and explained (:func:`detect_delimiter`):

1. The sample is the beginning of the decoded text (a BOM is ignored): the header record and up to
   ``SAMPLE_RECORDS`` following records, blank lines skipped. A record cut off by the end of the sample is not used.
2. Each candidate splits the sample into records and fields with the CSV quoting rules (a ``"`` at the start of a
   field opens a quoted value that may hold separators, line breaks and ``""``), so a comma inside quotes in a
   semicolon file does not count for the comma.
3. A candidate *fits* when the header has more than one field with it and every sampled record has that same
   number of fields. The fitting candidate with the most fields wins; equal counts go to the first in the order
   ``,`` ``;`` tab ``|`` (so ties go to the comma). A header cut off by the end of the sample (a very wide file)
   is judged by its fields alone.
4. When no candidate fits, the one under which the most records match the header's field count wins (more
   fields, then the same order, break ties), so a ragged semicolon file is reported as ragged with ``;``.
   A header with a single field under every candidate (a one-column file) gives ``,``.

Names for the outside world (API form field, CLI option, pages): ``auto``, ``,``, ``;``, ``tab``, ``|``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CANDIDATES: tuple[str, ...] = (",", ";", "\t", "|")
DEFAULT = ","
AUTO = "auto"
SAMPLE_CHARS = 64 * 1024
SAMPLE_RECORDS = 50

_NAMES: dict[str, str] = {",": ",", ";": ";", "\t": "tab", "|": "|"}
_LABELS: dict[str, str] = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_QUOTE = '"'
_FIELD_END = {d: re.compile("[" + re.escape(d) + "\r\n]") for d in CANDIDATES}


def delimiter_from_name(value: str | None) -> str | None:
    """The delimiter for an outside name (``auto``/blank -> ``None`` = detect), or raise ``ValueError``.

    Accepted: ``auto``, ``,``, ``;``, ``tab`` (or a tab character), ``|``; also ``comma``, ``semicolon`` and
    ``pipe``. Anything else is an error whose message lists the choices.
    """
    text = (value or "").strip(" ").lower()
    if text in {"", AUTO}:
        return None
    for delimiter in CANDIDATES:
        if text in {delimiter, _NAMES[delimiter], _LABELS[delimiter]}:
            return delimiter
    raise ValueError(f"The delimiter must be one of {_quoted(delimiter_choices())}.")


def delimiter_choices() -> list[str]:
    """The outside names, ``auto`` first (for help texts and error messages)."""
    return [AUTO, *(_NAMES[d] for d in CANDIDATES)]


def _quoted(values: list[str]) -> str:
    """``"a", "b" or "c"``."""
    shown = [f'"{v}"' for v in values]
    return ", ".join(shown[:-1]) + " or " + shown[-1]


def delimiter_name(delimiter: str | None) -> str:
    """The outside name of a delimiter (``None`` -> ``auto``; tab -> ``tab``)."""
    if delimiter is None:
        return AUTO
    return _NAMES.get(delimiter, delimiter)


def delimiter_label(delimiter: str | None) -> str:
    """A word for pages and messages: ``comma``, ``semicolon``, ``tab``, ``pipe`` (``automatic`` for ``None``)."""
    if delimiter is None:
        return "automatic"
    return _LABELS.get(delimiter, repr(delimiter))


@dataclass(frozen=True)
class _Shape:
    """Field counts of the sampled records under one candidate."""

    header: int
    records: tuple[int, ...]

    @property
    def fits(self) -> bool:
        return self.header > 1 and all(count == self.header for count in self.records)

    @property
    def matching(self) -> int:
        return sum(1 for count in self.records if count == self.header)


def detect_delimiter(text: str, *, complete: bool, max_records: int = SAMPLE_RECORDS) -> str:
    """The delimiter of a file whose decoded beginning is ``text`` (``complete``: ``text`` is the whole file).

    Rules in the module docstring; the result is always one of :data:`CANDIDATES`.
    """
    text = text.removeprefix("\ufeff")
    shapes = {candidate: _shape(text, candidate, complete, max_records) for candidate in CANDIDATES}
    order = {candidate: index for index, candidate in enumerate(CANDIDATES)}
    fitting = [c for c in CANDIDATES if shapes[c].fits]
    if fitting:
        return min(fitting, key=lambda c: (-shapes[c].header, order[c]))
    split = [c for c in CANDIDATES if shapes[c].header > 1]
    if not split:
        return DEFAULT
    return min(split, key=lambda c: (-shapes[c].matching, -shapes[c].header, order[c]))


def _shape(text: str, delimiter: str, complete: bool, max_records: int) -> _Shape:
    counts: list[int] = []
    header: int | None = None
    pos = 0
    while pos < len(text) and len(counts) < max_records:
        fields, pos, finished = _record(text, pos, delimiter, complete)
        if header is None:
            header = fields
            if not finished:
                break
            continue
        if not finished:
            break
        if fields:
            counts.append(fields)
    return _Shape(header=header or 0, records=tuple(counts))


def _record(text: str, pos: int, delimiter: str, complete: bool) -> tuple[int, int, bool]:
    """Count the fields of the record at ``pos``: (fields, position after it, finished).

    Blank lines count as zero fields. ``finished`` is False when the text ends inside the record and more text
    may follow (``complete`` False), or inside an unclosed quote.
    """
    n = len(text)
    fields = 0
    empty = True
    while True:
        if pos < n and text[pos] == _QUOTE:
            empty = False
            pos += 1
            while True:
                end = text.find(_QUOTE, pos)
                if end < 0:
                    return fields + 1, n, False
                if end + 1 < n and text[end + 1] == _QUOTE:
                    pos = end + 2
                    continue
                pos = end + 1
                break
        # Unquoted text (or text after a closing quote) runs to the next delimiter or line end.
        found = _FIELD_END[delimiter].search(text, pos)
        stop = found.start() if found else n
        if stop > pos:
            empty = False
        pos = stop
        fields += 1
        if pos >= n:
            return fields, n, complete
        char = text[pos]
        if char == delimiter:
            empty = False
            pos += 1
            continue
        pos += 2 if char == "\r" and pos + 1 < n and text[pos + 1] == "\n" else 1
        if char == "\r" and pos >= n and not complete:
            return fields, pos, False
        return (0 if empty else fields), pos, True


def detect_file_delimiter(path: Path, *, sample_bytes: int = SAMPLE_CHARS) -> str:
    """:func:`detect_delimiter` on the first ``sample_bytes`` of the UTF-8 file ``path``."""
    with path.open("rb") as handle:
        data = handle.read(sample_bytes + 1)
    complete = len(data) <= sample_bytes
    text = data[:sample_bytes].decode("utf-8", errors="ignore")  # only a character cut at the end can be lost
    return detect_delimiter(text, complete=complete)
