"""What the catalog (dataset pages, data dictionary API and CSV, builder lists) shows a caller, by their level.

- Example values (min, max, mean, std, top values, distribution) are hidden for identifying columns without the
  identifying grant, and for the participant id column below ``query`` (its values are participant ids).
- Below ``query`` (metadata and count callers) every number is under the same rule as counts, the cell-key method
  (``access.disclosure.profiles``): the version's row and participant totals, missing counts and value counts are
  perturbed with their participants' keys and suppressed below k; only values at least k participants hold are
  listed (``distinct`` counts only those); ``min`` / ``max`` are the k-th extremes rounded outward; ``mean`` / ``std``
  are rounded; no distributions; session labels fewer than k participants have are not listed; the row counts of
  version diffs are left out; warnings that name participant ids lose their ids. The same set of participants shows
  the same number here as in a count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from access.catalog_cells import version_cells
from access.disclosure import DisclosureRules, ShownCell, VersionCells, protect_cell, protect_profile, shown_values
from access.enforcement import identifying_columns_hidden
from access.levels import Level, level_at_least
from access.protection import disclosure_rules
from access.redaction import error_redacted, warnings_redacted
from access.selectors import datasets_explain_for_user
from datasets.models import Dataset, DatasetVersion, IngestJob, Study
from tenants.models import Tenant

VALUE_FIELDS = ("min", "max", "mean", "std", "top_values", "histogram")


@dataclass
class CatalogView:
    """Per dataset name: the caller's level and the columns without example values; the study's disclosure rules."""

    study: Study
    rules: DisclosureRules
    user_id: int | None = None
    levels: dict[str, Level] = field(default_factory=dict)
    hidden: dict[str, set[str]] = field(default_factory=dict)
    _cells: dict[int, VersionCells | None] = field(default_factory=dict, repr=False)

    @property
    def threshold(self) -> int:
        return self.rules.threshold

    def values_hidden(self, dataset: str) -> set[str]:
        return self.hidden.get(dataset, set())

    def exact_counts(self, dataset: str) -> bool:
        """Catalog numbers are shown exactly from the ``query`` level on."""
        return level_at_least(self.levels.get(dataset), Level.QUERY)

    def cells(self, version: DatasetVersion) -> VersionCells | None:
        if version.pk not in self._cells:
            self._cells[version.pk] = version_cells(self.study, version, threshold=self.rules.threshold)
        return self._cells[version.pk]

    def profiles(self, dataset: str, version: DatasetVersion) -> list[dict[str, Any]]:
        """The version's column profiles as this caller may see them (the stored dicts, protected)."""
        hidden = self.values_hidden(dataset)
        if self.exact_counts(dataset):
            return [
                {**column, **dict.fromkeys(VALUE_FIELDS)} if column.get("name") in hidden else dict(column)
                for column in version.columns
            ]
        cells = self.cells(version)
        columns = cells.columns if cells is not None else {}
        return [
            protect_profile(
                column, columns.get(str(column.get("name"))), self.rules, values_hidden=column.get("name") in hidden
            )
            for column in version.columns
        ]

    def total(self, dataset: str, version: DatasetVersion) -> ShownCell:
        """The version's participants and rows as this caller may see them."""
        if self.exact_counts(dataset):
            return ShownCell(participants=version.participants, rows=version.row_count, suppressed=False)
        cells = self.cells(version)
        if cells is None:
            return ShownCell(participants=None, rows=None, suppressed=True)
        return protect_cell(cells.total, self.rules)

    def sessions(self, dataset: str, version: DatasetVersion, session_column: str | None) -> list[str]:
        """The version's session labels; below ``query`` only those at least k participants have."""
        labels = [str(session) for session in version.sessions or []]
        if self.exact_counts(dataset):
            return labels
        cells = self.cells(version)
        column = cells.columns.get(session_column or "") if cells is not None else None
        if column is None or column.values is None:
            return []
        common = {str(value) for value, _ in shown_values(column.values, self.rules)}
        return [label for label in labels if label in common]

    def warnings(self, dataset: str, version: DatasetVersion) -> list[dict[str, Any]]:
        """The version's ingest warnings; below ``query`` without participant ids or counts of people."""
        if self.exact_counts(dataset):
            return list(version.warnings or [])
        return warnings_redacted(version.warnings or [])

    def annotate(self, dataset: str, version: DatasetVersion) -> DatasetVersion:
        """``version`` with ``shown_rows``, ``shown_participants``, ``shown_sessions``, ``shown_warnings`` and
        ``shown_diff`` set to what this caller may see (for pages)."""
        total = self.total(dataset, version)
        study = self.study
        version.shown_rows = total.rows  # type: ignore[attr-defined]
        version.shown_participants = total.participants  # type: ignore[attr-defined]
        version.shown_sessions = self.sessions(dataset, version, study.session_column or None)  # type: ignore[attr-defined]
        version.shown_warnings = self.warnings(dataset, version)  # type: ignore[attr-defined]
        version.shown_diff = self.diff(dataset, version)  # type: ignore[attr-defined]
        return version

    def ingest(self, job: IngestJob) -> dict[str, Any]:
        """What this caller may read of an ingest: in full for its uploader and from ``query`` on its dataset;
        otherwise without participant ids (errors, warnings) and with protected row and participant counts."""
        full = job.created_by_id == self.user_id or self.exact_counts(job.dataset_name)
        version = job.version
        total = self.total(job.dataset_name, version) if version is not None else None
        return {
            "full": full,
            "error_message": job.error_message if full or not job.error_code else error_redacted(job.error_code),
            "error_details": dict(job.error_details or {}) if full else {},
            "warnings": list(job.warnings or []) if full else warnings_redacted(job.warnings or []),
            "rows": version.row_count if full and version is not None else (total.rows if total else None),
            "participants": version.participants
            if full and version is not None
            else (total.participants if total else None),
        }

    def diff(self, dataset: str, version: DatasetVersion) -> dict[str, Any]:
        """The version's schema diff; below ``query`` without its exact row counts."""
        diff = dict(version.diff or {})
        if diff and not self.exact_counts(dataset):
            diff.update(old_rows=None, new_rows=None, row_change=None)
        return diff


def catalog_view_for_user(*, user: Any, tenant: Tenant, study: Study) -> CatalogView:
    """The caller's view of ``study``'s catalog (three queries, whatever the number of datasets)."""
    explanations = datasets_explain_for_user(user=user, tenant=tenant, study=study)
    datasets = list(Dataset.objects.filter(study=study))
    hidden = identifying_columns_hidden(explanations=explanations, datasets=datasets)
    levels: dict[str, Level] = {}
    for dataset in datasets:
        explanation = explanations.get(dataset.name)
        level = explanation.level if explanation is not None else None
        if level is not None:
            levels[dataset.name] = level
        if not level_at_least(level, Level.QUERY):
            hidden.setdefault(dataset.name, set()).add(study.id_column)
    return CatalogView(
        study=study,
        rules=disclosure_rules(tenant=tenant, study=study),
        user_id=getattr(user, "pk", None),
        levels=levels,
        hidden=hidden,
    )


def ingests_shown(view: CatalogView, jobs: Iterable[IngestJob]) -> list[IngestJob]:
    """``jobs`` with ``shown`` set to what the caller of ``view`` may read of each (``CatalogView.ingest``)."""
    listed = list(jobs)
    for job in listed:
        job.shown = view.ingest(job)  # type: ignore[attr-defined]
    return listed


def ingest_shown_to_uploader(job: IngestJob) -> IngestJob:
    """``job`` with ``shown`` set to everything: for pages that only ever show a member their own ingest (the new-study
    wizard's import, whose study does not exist yet)."""
    version = job.version
    job.shown = {  # type: ignore[attr-defined]
        "full": True,
        "error_message": job.error_message,
        "error_details": dict(job.error_details or {}),
        "warnings": list(job.warnings or []),
        "rows": version.row_count if version is not None else None,
        "participants": version.participants if version is not None else None,
    }
    return job


def study_participants_shown(*, user: Any, tenant: Tenant, study: Study) -> int | None:
    """The study's participant count (its demographics' latest version) as the caller may see it."""
    if not study.demographics_id or study.demographics is None:
        return None
    version = study.demographics.latest_version()
    if version is None:
        return None
    view = catalog_view_for_user(user=user, tenant=tenant, study=study)
    return view.total(study.demographics.name, version).participants


def top_values_of(profile: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """``[(value, count)]`` of a (protected) profile's top values."""
    items = []
    for item in profile.get("top_values") or []:
        if isinstance(item, Mapping):
            items.append((item.get("value"), item.get("count")))
        elif isinstance(item, list | tuple) and len(item) == 2:
            items.append((item[0], item[1]))
    return items
