"""Do a study's key columns fit its data? The check every query surface makes first, and the rules for repairing.

A study's key columns (id, session, age, sex, site, composite id) name columns of its demographics table, and the
id column is in every table. The registration paths keep it so, but a study from an older version (or any future
path) may name a column its data does not have. Such a study must never fail with a server error: every count, run,
report, saved query and builder page answers 409 ``study_keys_invalid`` naming the missing column
(:func:`study_keys_require`), and a steward repairs the study by re-pointing or dropping the column
(:func:`study_key_changes_check` says what may change while data depends on it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import Conflict, InvalidInput
from datasets.ingest import ROLE_LABELS
from datasets.ingest.keys import site_column_candidates
from datasets.models import DatasetVersion, Study

OPTIONAL_KEYS = ("age_column", "sex_column", "site_column", "composite_id_column")


@dataclass(frozen=True)
class KeyProblem:
    """A key column of the study that a table of the study does not have."""

    key: str
    column: str
    dataset: str
    candidates: tuple[str, ...] = field(default=())

    @property
    def sentence(self) -> str:
        text = f"the {ROLE_LABELS.get(self.key, self.key)} column '{self.column}' is not a column of '{self.dataset}'"
        if self.candidates:
            text += f" (columns that look right: {', '.join(repr(c) for c in self.candidates)})"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "column": self.column, "dataset": self.dataset, "candidates": list(self.candidates)}


class StudyKeysInvalid(Conflict):
    """409 ``study_keys_invalid``: the study names a key column its data does not have."""

    def __init__(self, study: Study, problems: list[KeyProblem]) -> None:
        sentences = "; ".join(problem.sentence for problem in problems)
        super().__init__(
            f"The key columns of study '{study.slug}' do not fit its data: {sentences}. A data steward can "
            "re-point or drop the column in the study's settings (the study page, or PATCH /api/v1/studies/"
            f"{study.slug}).",
            code="study_keys_invalid",
            details={"study": study.slug, "problems": [problem.as_dict() for problem in problems]},
        )
        self.problems = problems


def _latest(study: Study) -> dict[str, DatasetVersion]:
    versions: dict[str, DatasetVersion] = {}
    live = DatasetVersion.objects.filter(dataset__study=study, dataset__deleted_at__isnull=True)
    for version in live.select_related("dataset").order_by("dataset_id", "-number"):
        versions.setdefault(version.dataset.name, version)
    return versions


def study_key_problems(study: Study, versions: dict[str, DatasetVersion] | None = None) -> list[KeyProblem]:
    """Key columns the study's tables lack, at ``versions`` (default: the latest version of every table).

    A study without a demographics version has no problems (it has no data to disagree with). The composite id is
    derived: when the demographics table lacks it, it is simply not used, so that is no problem either.
    """
    versions = _latest(study) if versions is None else versions
    demographics = study.demographics.name if study.demographics_id else None  # type: ignore[union-attr]
    demo = versions.get(demographics) if demographics else None
    if demo is None:
        return []
    header = demo.column_names()
    problems: list[KeyProblem] = []
    for role in ("id_column", "session_column", "age_column", "sex_column", "site_column"):
        column = getattr(study, role)
        if column and column not in header:
            candidates = tuple(site_column_candidates(header)) if role == "site_column" else ()
            problems.append(KeyProblem(role, column, demo.dataset.name, candidates))
    for name, version in sorted(versions.items()):
        if name != demographics and study.id_column and study.id_column not in version.column_names():
            problems.append(KeyProblem("id_column", study.id_column, name))
    return problems


def study_keys_require(study: Study, versions: dict[str, DatasetVersion] | None = None) -> None:
    """Raise :class:`StudyKeysInvalid` unless every key column of the study is in its data."""
    problems = study_key_problems(study, versions)
    if problems:
        raise StudyKeysInvalid(study, problems)


def study_key_changes_check(study: Study, changed: dict[str, str]) -> None:
    """Refuse key-column changes the study's registered data does not allow (no data: everything is allowed).

    - The id column never changes once data is registered (409 ``keys_frozen``).
    - The session column (the merge key with the id) may only be dropped, and only while no registered table has
      it and the demographics ids are unique (then no data depends on it); anything else is ``keys_frozen``.
    - Age, sex, site and composite id columns may be re-pointed to a column of the demographics table (422
      ``key_column_not_in_data`` otherwise) or dropped at any time; the composite id needs a session column.
    """
    versions = _latest(study)
    demographics = study.demographics.name if study.demographics_id else None  # type: ignore[union-attr]
    demo = versions.get(demographics) if demographics else None
    session = changed.get("session_column", study.session_column)
    if changed.get("composite_id_column") and not session:
        raise InvalidInput(
            "A composite id column needs a session column: it is derived from id + session.",
            code="composite_needs_session",
            details={"key": "composite_id_column"},
        )
    if not versions:
        return
    if "id_column" in changed:
        raise Conflict(
            "id_column cannot change once datasets are registered; create a new study instead.", code="keys_frozen"
        )
    if "session_column" in changed:
        _session_change_check(study, changed["session_column"], versions, demo)
    header = demo.column_names() if demo is not None else []
    for role in OPTIONAL_KEYS:
        column = changed.get(role)
        if column and column not in header:
            candidates = site_column_candidates(header) if role == "site_column" else []
            hint = f" Columns that look right: {', '.join(repr(c) for c in candidates)}." if candidates else ""
            raise InvalidInput(
                f"'{column}' is not a column of the demographics table, so it cannot be the "
                f"{ROLE_LABELS[role]} column.{hint}",
                code="key_column_not_in_data",
                details={"key": role, "column": column, "columns": header[:100], "candidates": candidates},
            )


def _session_change_check(
    study: Study, new: str, versions: dict[str, DatasetVersion], demo: DatasetVersion | None
) -> None:
    current = study.session_column
    if new or not current:
        raise Conflict(
            "session_column cannot be set or re-pointed once datasets are registered: it decides how rows merge. "
            "Create a new study instead.",
            code="keys_frozen",
        )
    using = sorted(name for name, version in versions.items() if current in version.column_names())
    if using:
        raise Conflict(
            f"session_column '{current}' cannot be dropped: registered tables merge on it ({', '.join(using)}).",
            code="keys_frozen",
            details={"datasets": using},
        )
    if demo is not None and demo.participants != demo.row_count:
        raise Conflict(
            "session_column cannot be dropped: participants repeat in the demographics table, so it is not "
            "cross-sectional.",
            code="keys_frozen",
        )
