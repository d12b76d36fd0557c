"""How deeply a JSON or TOML document nests, measured before it is parsed.

Python's JSON and TOML parsers recurse once per open ``[`` or ``{``: a small upload of 100,000 brackets exhausts the
interpreter's stack (``RecursionError``) in the parser or in any code walking the result. Settings files and query
parameters nest a few levels, so a document deeper than :data:`MAX_NESTING` is refused as invalid before parsing.
"""

from __future__ import annotations

#: Deepest nesting of arrays and objects/inline tables accepted in an uploaded settings or parameters file.
MAX_NESTING = 64

_OPENING = frozenset("[{")
_CLOSING = frozenset("]}")


def nesting_too_deep(text: str, limit: int = MAX_NESTING) -> bool:
    """Whether ``text`` opens more than ``limit`` arrays or objects inside each other (brackets within quoted
    strings and ``#`` comments do not count; an approximation for TOML's multi-line strings, which is why parsers
    are still guarded against ``RecursionError``)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    quote = ""
    escaped = comment = False
    for char in text:
        if comment:
            comment = char != "\n"
        elif quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = ""
        elif char in _OPENING:
            depth += 1
            if depth > limit:
                return True
        elif char in _CLOSING:
            depth = max(0, depth - 1)
        elif char in "\"'":
            quote = char
        elif char == "#":
            comment = True
    return False
