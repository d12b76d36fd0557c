"""Suggest which columns hold the participant id, session, age, sex and site, from the header alone.

These are *suggestions* for the upload form; nothing is ever applied without the researcher confirming it.
Names are split into lower-case words at ``_``, spaces, punctuation and camelCase boundaries (``customID`` ->
``custom id``, ``SubjectID`` -> ``subject id``); a well-known exact name (``ursi``, ``participant_id``,
``session_num``, ``all_studies``...) scores highest, then names containing a role word. Role words are matched as
whole words, so ``stage``/``page`` are not ages and ``session_id`` is a session, not a participant id. A column is
suggested for at most one role, and ties go to the column further left.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

_WORD_SPLIT = re.compile(r"[^0-9A-Za-z]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

_EXACT: dict[str, tuple[str, ...]] = {
    "id": ("ursi", "participant id", "participantid", "subject id", "subjectid", "src subject id", "record id",
           "participant", "subject", "subj id", "sub id", "subjid", "custom id", "customid", "person id",
           "patient id", "id", "pid", "eid"),
    "session": ("session", "session num", "session number", "session id", "ses", "visit", "visit num",
                "visit number", "visit id", "timepoint", "time point", "wave", "redcap event name", "event name",
                "event", "tp"),
    "age": ("age", "age years", "age yrs", "ageyears", "age in years", "age at visit", "age at scan",
            "age at assessment", "interview age", "age months"),
    "sex": ("sex", "gender", "sex at birth", "biological sex", "assigned sex", "sex assigned at birth"),
    "site": ("site", "study site", "all studies", "study", "cohort", "center", "centre", "location",
             "institution", "batch", "substudy", "site id", "site name", "acquisition site"),
}  # fmt: skip

_WORDS: dict[str, frozenset[str]] = {
    "id": frozenset({"participant", "subject", "subj", "patient", "person", "child", "case", "record", "ursi"}),
    "session": frozenset({"session", "visit", "timepoint", "wave", "ses"}),
    "age": frozenset({"age"}),
    "sex": frozenset({"sex", "gender"}),
    "site": frozenset({"site", "study", "studies", "cohort", "center", "centre", "location", "institution", "batch"}),
}
_NOT_PARTICIPANT = _WORDS["session"] | _WORDS["site"] | {"item", "form", "question", "event", "scan", "run", "file"}
ROLES = ("id", "session", "age", "sex", "site")


@dataclass(frozen=True)
class KeySuggestion:
    """Suggested column per role; ``None`` when nothing fits."""

    id: str | None = None
    session: str | None = None
    age: str | None = None
    sex: str | None = None
    site: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def words(name: str) -> list[str]:
    """Lower-case words of a column name: ``"customID"`` -> ``["custom", "id"]``."""
    return [w.lower() for w in _WORD_SPLIT.split(name.strip()) if w]


def _score(role: str, name: str) -> int:
    tokens = words(name)
    if not tokens:
        return 0
    joined = " ".join(tokens)
    exact = _EXACT[role]
    if joined in exact:
        return 100 - exact.index(joined)
    wordset = set(tokens)
    if role == "id":
        if wordset & _NOT_PARTICIPANT:
            return 0
        if tokens[-1] == "id":
            return 60 if wordset & _WORDS["id"] else 40
        return 50 if wordset & _WORDS["id"] else 0
    return 50 if wordset & _WORDS[role] else 0


def suggest_key_columns(header: list[str]) -> KeySuggestion:
    """Best guess of the id, session, age, sex and site columns of ``header``."""
    taken: set[int] = set()
    chosen: dict[str, str | None] = {}
    for role in ROLES:
        best: tuple[int, int] | None = None
        for position, name in enumerate(header):
            if position in taken:
                continue
            score = _score(role, name)
            if score > 0 and (best is None or score > best[0]):
                best = (score, position)
        if best is None:
            chosen[role] = None
        else:
            taken.add(best[1])
            chosen[role] = header[best[1]]
    return KeySuggestion(**chosen)


def site_column_candidates(header: list[str]) -> list[str]:
    """Columns of ``header`` whose names look like a site / substudy membership column, in file order."""
    return [name for name in header if _score("site", name) > 0]
