"""Participant ids are never readable below the query level: what is left of specs, warnings and errors.

Ids are values of the demographics table's id column, so a caller needs ``query`` on the study's demographics
dataset to read them (stewards and owners always can). Below that level:

- a saved query's participant id list is removed (``participants_hidden`` says how many there were);
- ingest warnings that name ids or count people (``unknown_ids``, ``duplicate_keys_allowed``) or count values of
  the data (``many_sessions``: the exact number of session labels) become a sentence without them; other warnings
  name only columns and stay;
- a failed ingest's error message (which can quote ids, row numbers and values) becomes its code's sentence.

The uploader of a file always sees its own ingest in full (they hold the file).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from access.levels import Level, level_at_least
from access.selectors import datasets_explain_for_user
from datasets.models import Study
from tenants.models import Tenant

SAFE_WARNINGS = frozenset({"unknown_text_columns", "empty_columns"})
WARNING_TEXT = {
    "many_sessions": "The session column has more different values than are listed; is it really the session "
    "column? (The number needs the query level.)",
    "unknown_ids": "Some participants in this file are not in the demographics table (details need the query level).",
    "duplicate_keys_allowed": "Some participant keys appear more than once (details need the query level).",
}
ERROR_TEXT = "The file was rejected ({code}); the details name rows or values and need the query level."


def participant_ids_visible(*, user: Any, tenant: Tenant, study: Study) -> bool:
    """Whether ``user`` may read participant ids of ``study`` (``query`` on its demographics dataset)."""
    if not study.demographics_id or study.demographics is None:
        return True
    explanation = datasets_explain_for_user(user=user, tenant=tenant, study=study).get(study.demographics.name)
    return explanation is not None and level_at_least(explanation.level, Level.QUERY)


def spec_without_ids(spec: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """``spec`` without its participant id list, and how many ids it held."""
    data = dict(spec)
    ids = data.get("participants") or []
    if ids:
        data["participants"] = []
    return data, len(ids) if isinstance(ids, list) else 0


def warnings_redacted(warnings: Iterable[Any]) -> list[dict[str, Any]]:
    """Ingest warnings without participant ids, counts of people or counts of values."""
    out: list[dict[str, Any]] = []
    for warning in warnings:
        if not isinstance(warning, Mapping):
            continue
        code = str(warning.get("code", ""))
        if code in SAFE_WARNINGS:
            out.append(
                {"code": code, "message": warning.get("message", ""), "details": dict(warning.get("details") or {})}
            )
        else:
            text = WARNING_TEXT.get(code, "A warning about this file (details need the query level).")
            out.append({"code": code, "message": text, "details": {}})
    return out


def error_redacted(code: str) -> str:
    """A failed ingest's message for a reader who may not see ids."""
    return ERROR_TEXT.format(code=code or "error")
