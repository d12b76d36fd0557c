"""Which declared encodings a file may have: character encodings of text, never Python's other codecs.

``codecs.lookup`` also knows transforms that are no character encoding at all (``rot13``, ``hex``, ``base64``,
``zlib``, ``bz2``...): they turn bytes into bytes (or text into text), so "decoding" a CSV with them fails with a
type error or inflates a small upload into gigabytes. Every entry point (API, web forms, the pipeline) checks a
declared encoding here and names the usual ones when it refuses.
"""

from __future__ import annotations

import codecs

from datasets.ingest.errors import quoted

#: The encodings named when a declared one is refused (any other character encoding Python knows is accepted too).
USUAL_ENCODINGS = ("utf-8", "latin-1", "cp1252", "utf-16")
ACCEPTED_HINT = (
    f"Use a text encoding such as {', '.join(USUAL_ENCODINGS[:-1])} or {USUAL_ENCODINGS[-1]} "
    "(leave it blank for UTF-8)."
)
# Text codecs that decode no character set: ``undefined`` refuses every byte.
_NOT_CHARACTER_SETS = frozenset({"undefined"})


class EncodingRefused(ValueError):
    """A declared encoding that is unknown or no text encoding; ``message`` says which and names the usual ones."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def text_encoding(name: str) -> str:
    """The canonical codec name of the text encoding ``name`` (``"latin-1"`` -> ``"iso8859-1"``);
    :class:`EncodingRefused` when it is unknown or not a character encoding."""
    value = name.strip()
    try:
        info = codecs.lookup(value)
    except (LookupError, ValueError):  # ValueError: a name with a NUL byte
        raise EncodingRefused(f"Unknown encoding {quoted(value)}. {ACCEPTED_HINT}") from None
    if not info._is_text_encoding or info.name in _NOT_CHARACTER_SETS:
        raise EncodingRefused(f"{quoted(value)} is not a text encoding. {ACCEPTED_HINT}")
    return info.name
