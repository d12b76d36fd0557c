"""Names: a dataset slug from an uploaded file name, and natural ordering of session labels.

:func:`dataset_slug` is a *suggestion* the researcher can edit. It only ever looks at the last path component
(``../../etc/passwd`` -> ``passwd``, ``C:\\Users\\me\\Visit 1.CSV`` -> ``visit_1``), stops at the first control
character (``file.csv\\x00/etc/passwd`` -> ``file``), drops one data-file extension whatever its case
(``.csv .tsv .txt``, optionally followed by ``.gz``/``.zip``), transliterates accented Latin letters to ASCII
(``café`` -> ``cafe``), keeps ``[a-z0-9_]`` and falls back to ``dataset`` when nothing is left (``文件名.csv``).
"""

from __future__ import annotations

import re
import unicodedata

SLUG_MAX_LENGTH = 63
FALLBACK_SLUG = "dataset"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_DATA_SUFFIX = re.compile(r"\.(csv|tsv|txt|tab|dat)(\.(gz|zip|bz2|xz))?$", re.IGNORECASE)
_OTHER_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,5}$")
_SPECIAL_LETTERS = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ł": "l",
     "Ł": "L", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D", "ı": "i"}
)  # fmt: skip


def transliterate(text: str) -> str:
    """Best-effort ASCII: accents stripped (NFKD), a few special Latin letters spelled out, the rest dropped."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPECIAL_LETTERS))
    return "".join(ch for ch in decomposed if ch.isascii() and not unicodedata.combining(ch))


def dataset_slug(filename: str) -> str:
    """A lower-case ``[a-z0-9_]`` slug (at most 63 characters, never empty) suggested from an upload's name."""
    name = _CONTROL.split(filename, maxsplit=1)[0]
    name = re.split(r"[\\/]", name)[-1]
    stem = _DATA_SUFFIX.sub("", name)
    if stem == name:
        stem = _OTHER_SUFFIX.sub("", name)
    slug = _NOT_SLUG.sub("_", transliterate(stem).lower()).strip("_")
    if len(slug) > SLUG_MAX_LENGTH:
        slug = slug[:SLUG_MAX_LENGTH].rstrip("_")
    return slug or FALLBACK_SLUG
