"""Studies whose data another workspace provides (a lab's contribution to a consortium).

Such a study is read-only in the workspace that shows it, capped at the provider's ceiling, and usable only while
the provider allows it. The app that owns the link (``sharing``) registers its :class:`StudyOriginSource` in its
``AppConfig.ready``; datasets, access and the apps above ask here at the moment of use, so one check covers every
surface (catalog, counts, runs, rows, exports, analysis) without those apps knowing about sharing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.errors import Forbidden
from datasets.models import DatasetVersion, Study


@dataclass(frozen=True)
class StudyOrigin:
    """Where a study's data comes from and what the provider allows right now."""

    contribution_id: int
    tenant_slug: str  # the providing workspace
    tenant_name: str
    ceiling: str  # the highest level anyone here may get (an access level value)
    active: bool  # False once the provider withdrew it
    raised: tuple[tuple[int, str], ...] = ()  # (user id, level): the provider let these people above the ceiling
    # The provider's disclosure control, which the showing workspace may make stricter, never looser: its small-cell
    # threshold k, maximum noise D and noise variance V (0: none known).
    threshold_floor: int = 0
    max_noise_floor: int = 0
    variance_floor: float = 0.0
    # Where the study's record keys come from (the provider's own study): the same participants get the same cell
    # keys, hence the same noise, wherever the study is shown ("" : this workspace's study).
    key_identity: str = ""

    def ceiling_for(self, user_id: int | None) -> str:
        """The highest level ``user_id`` may get: the ceiling, or what the provider approved for them alone."""
        return next((level for uid, level in self.raised if uid == user_id), self.ceiling)


class StudyOriginSource(Protocol):
    """What an app linking studies across workspaces answers (for the current tenant schema)."""

    def origin(self, study: Study) -> StudyOrigin | None:
        """The origin of ``study``, or None for a study of this workspace's own."""

    def unusable_ids(self) -> set[int]:
        """Ids of studies here whose provider no longer allows their use (hidden from the catalog)."""

    def refresh(self, study: Study) -> None:
        """Bring the study's records in line with what the provider covers now (versions, column notes)."""

    def read_elsewhere(self, version: DatasetVersion) -> bool:
        """True when another workspace reads ``version``'s files (they must outlive a deletion here)."""


_sources: list[StudyOriginSource] = []


def study_origin_source_register(source: StudyOriginSource) -> None:
    """Register ``source`` (once, from an ``AppConfig.ready``)."""
    if source not in _sources:
        _sources.append(source)


def study_origin(study: Study) -> StudyOrigin | None:
    """The origin of ``study`` (None: the workspace's own study)."""
    for source in _sources:
        found = source.origin(study)
        if found is not None:
            return found
    return None


def study_ids_unusable() -> set[int]:
    """Studies of the current workspace that may not be used now (a withdrawn contribution)."""
    hidden: set[int] = set()
    for source in _sources:
        hidden |= source.unusable_ids()
    return hidden


def version_read_elsewhere(version: DatasetVersion) -> bool:
    """True when another workspace reads ``version``'s files (a contributed study): they are kept on deletion."""
    return any(source.read_elsewhere(version) for source in _sources)


def withdrawn_error() -> Forbidden:
    """The refusal for any use of a study whose provider withdrew it."""
    return Forbidden(
        "The contributing workspace withdrew this study: its data can no longer be used here.",
        code="contribution_withdrawn",
    )


def study_usable_require(study: Study) -> StudyOrigin | None:
    """Raise 403 ``contribution_withdrawn`` when the provider withdrew ``study``; otherwise bring its records up to
    date with what the provider covers now and return its origin (None for an own study)."""
    origin = study_origin(study)
    if origin is None:
        return None
    if not origin.active:
        raise withdrawn_error()
    for source in _sources:
        source.refresh(study)
    return origin


def study_writable_require(study: Study, *, refused: str = "its data, keys and notes are changed there") -> None:
    """Raise 403 ``contributed_study_read_only`` for a study another workspace provides: its data, keys, dataset
    notes and terms of use are the provider's to change (``refused`` says which, after "contributed by ...: ")."""
    origin = study_origin(study)
    if origin is not None:
        message = f"This study is contributed by {origin.tenant_name}: {refused}."
        raise Forbidden(message, code="contributed_study_read_only")
