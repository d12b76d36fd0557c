"""What the query builder offers a caller, by their access level on each dataset (``access.selectors``).

- below ``count`` (metadata only): the dataset is not offered; the page lists it with a "Request access" link;
- ``count``: usable in filters, never as output (no output columns), and its per-value counts and missing counts
  are not shown (they are exact small cells);
- ``query`` and above: filters and output columns;
- identifying columns (catalog sensitivity) are not offered without the identifying grant.

The builder's schema is filtered once per request (:func:`study_schema_for_user`); the services still check every
count and run (``access.enforcement``), so a posted form naming something not offered is refused there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from access.enforcement import identifying_columns_hidden
from access.levels import Level, level_at_least
from access.selectors import datasets_explain_for_user
from access.suppression import suppression_threshold
from datasets.models import Dataset, Study
from queries.builder_schema import ColumnChoice, DatasetChoice, StudySchema, study_schema
from tenants.models import Tenant


@dataclass(frozen=True)
class BuilderAccess:
    """The caller's level per dataset of the study and the identifying columns they may not use."""

    demographics: str
    threshold: int = 1
    levels: dict[str, Level] = field(default_factory=dict)
    hidden: dict[str, frozenset[str]] = field(default_factory=dict)

    def level(self, name: str) -> Level | None:
        return self.levels.get(name)

    def filterable(self, name: str) -> bool:
        """Usable in filters (and counts): ``count`` or above."""
        return level_at_least(self.levels.get(name), Level.COUNT)

    def outputable(self, name: str) -> bool:
        """Usable as output columns (runs): ``query`` or above."""
        return level_at_least(self.levels.get(name), Level.QUERY)

    @property
    def can_count(self) -> bool:
        return self.filterable(self.demographics)

    @property
    def can_run(self) -> bool:
        """Runs need ``query`` on the demographics table (every run outputs it)."""
        return self.outputable(self.demographics)

    @property
    def locked(self) -> list[str]:
        """Datasets the caller sees in the catalog only (request access to use them)."""
        return sorted(name for name in self.levels if not self.filterable(name))

    @property
    def count_only(self) -> list[str]:
        """Datasets usable in filters only (aggregate counts, suppressed and rounded)."""
        return sorted(name for name in self.levels if self.filterable(name) and not self.outputable(name))

    @property
    def hidden_demographics(self) -> list[str]:
        """Identifying demographics columns left out of this caller's results."""
        return sorted(self.hidden.get(self.demographics, frozenset()))


def builder_access_for(*, user: Any, tenant: Tenant, study: Study) -> BuilderAccess:
    """The caller's builder access to ``study`` (three queries, whatever the number of datasets)."""
    explanations = datasets_explain_for_user(user=user, tenant=tenant, study=study)
    levels = {name: e.level for name, e in explanations.items() if e.level is not None}
    datasets = list(Dataset.objects.filter(study=study))
    hidden = identifying_columns_hidden(explanations=explanations, datasets=datasets)
    demographics = study.demographics.name if study.demographics_id and study.demographics else ""
    return BuilderAccess(
        demographics=demographics,
        threshold=suppression_threshold(tenant=tenant, study=study),
        levels=levels,
        hidden={name: frozenset(columns) for name, columns in hidden.items()},
    )


def _column_for(column: ColumnChoice, *, exact_counts: bool, threshold: int) -> ColumnChoice:
    """Below ``query``: no per-value or missing counts, and no value held by fewer than k rows (a rare label is a
    small cell). With values left out the list is no longer complete, so the picker searches the server, which
    offers only values at least k participants have."""
    if exact_counts:
        return column
    common = tuple((value, None) for value, count in column.top_values if count is not None and count >= threshold)
    return dataclasses.replace(column, missing=None, top_values=common)


def schema_for_access(schema: StudySchema, access: BuilderAccess) -> StudySchema:
    """``schema`` without the datasets the caller may not filter on and the columns they may not use; per-value
    and missing counts are removed from datasets below ``query``."""
    datasets: dict[str, DatasetChoice] = {}
    for name, choice in schema.datasets.items():
        if not access.filterable(name):
            continue
        hidden = access.hidden.get(name, frozenset())
        exact = access.outputable(name)
        k = access.threshold
        columns = tuple(_column_for(c, exact_counts=exact, threshold=k) for c in choice.columns if c.name not in hidden)
        datasets[name] = dataclasses.replace(choice, columns=columns)
    return dataclasses.replace(schema, datasets=datasets)


def study_schema_for_user(*, user: Any, tenant: Tenant, study: Study) -> tuple[StudySchema, BuilderAccess]:
    """The builder's schema of ``study`` as this caller may use it, and their access."""
    access = builder_access_for(user=user, tenant=tenant, study=study)
    return schema_for_access(study_schema(study), access), access
