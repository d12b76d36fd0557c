"""What the query builder offers a caller, by their access level on each dataset (``access.selectors``).

- below ``count`` (metadata only): the dataset is not offered; the page lists it with a "Request access" link;
- ``count``: usable in filters, never as output (no output columns); its statistics are the catalog's under the
  disclosure rules (``access.catalog``): no per-value or missing counts, only values at least k participants hold
  (the same perturbed rule as counts), bounds instead of exact min/max, and only common session labels;
- ``query`` and above: filters and output columns;
- identifying columns (catalog sensitivity) are not offered without the identifying grant.

The builder's schema is filtered once per request (:func:`study_schema_for_user`); the services still check every
count and run (``access.enforcement``), so a posted form naming something not offered is refused there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from access.catalog import CatalogView, catalog_view_for_user, top_values_of
from access.enforcement import identifying_columns_hidden
from access.levels import Level, level_at_least
from access.selectors import datasets_explain_for_user
from datasets.models import Dataset, Study
from queries.pages.builder_schema import ColumnChoice, DatasetChoice, StudySchema, study_schema
from tenants.models import Tenant


@dataclass(frozen=True)
class BuilderAccess:
    """The caller's level per dataset of the study and the identifying columns they may not use."""

    demographics: str
    threshold: int = 1
    levels: dict[str, Level] = field(default_factory=dict)
    hidden: dict[str, frozenset[str]] = field(default_factory=dict)
    catalog: CatalogView | None = field(default=None, compare=False, repr=False)

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
    def demographics_level(self) -> str:
        """The caller's level on the demographics table, in words ("no access" for none)."""
        level = self.levels.get(self.demographics)
        return level.value if level is not None else "no access"

    @property
    def stranded(self) -> list[tuple[str, str]]:
        """(dataset, level) of the other tables the caller could output, were it not for the demographics table."""
        if self.can_run:
            return []
        return sorted(
            (name, level.value)
            for name, level in self.levels.items()
            if name != self.demographics and level_at_least(level, Level.QUERY)
        )

    @property
    def demographics_needed(self) -> str:
        """The level to ask for on the demographics table: query, or the highest the caller has elsewhere."""
        levels = [Level(level) for _, level in self.stranded]
        return Level.EXPORT.value if Level.EXPORT in levels else Level.QUERY.value

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
    """The caller's builder access to ``study`` (a few queries, whatever the number of datasets)."""
    catalog = catalog_view_for_user(user=user, tenant=tenant, study=study)
    explanations = datasets_explain_for_user(user=user, tenant=tenant, study=study)
    levels = {name: e.level for name, e in explanations.items() if e.level is not None}
    datasets = list(Dataset.objects.filter(study=study))
    hidden = identifying_columns_hidden(explanations=explanations, datasets=datasets)
    demographics = study.demographics.name if study.demographics_id and study.demographics else ""
    return BuilderAccess(
        demographics=demographics,
        threshold=catalog.threshold,
        levels=levels,
        hidden={name: frozenset(columns) for name, columns in hidden.items()},
        catalog=catalog,
    )


def _protected_column(column: ColumnChoice, profile: dict[str, Any] | None) -> ColumnChoice:
    """Below ``query``: the column's catalog statistics under the disclosure rules — only values at least k
    participants hold, without counts; bounds for min/max; no missing count. ``protected`` columns never fall back
    to reading every distinct value (the value search applies the same rule: ``builder_schema.distinct_values``)."""
    if profile is None:
        return dataclasses.replace(
            column, missing=None, top_values=(), min=None, max=None, distinct=None, protected=True
        )
    shown = tuple((value, None) for value, _ in top_values_of(profile) if value is not None)
    return dataclasses.replace(
        column,
        missing=None,
        top_values=shown,
        min=profile.get("min"),
        max=profile.get("max"),
        distinct=profile.get("distinct"),
        protected=True,
    )


def schema_for_access(schema: StudySchema, access: BuilderAccess) -> StudySchema:
    """``schema`` without the datasets the caller may not filter on and the columns they may not use; datasets
    below ``query`` carry their statistics under the disclosure rules (and only common session labels)."""
    datasets: dict[str, DatasetChoice] = {}
    sessions = schema.sessions
    for name, choice in schema.datasets.items():
        if not access.filterable(name):
            continue
        hidden = access.hidden.get(name, frozenset())
        columns = tuple(c for c in choice.columns if c.name not in hidden)
        if not access.outputable(name) and access.catalog is not None:
            profiles = {str(p.get("name")): p for p in access.catalog.profiles(name, choice.version)}
            columns = tuple(c if c.protected else _protected_column(c, profiles.get(c.name)) for c in columns)
            if name == schema.demographics:
                session_column = schema.study.session_column or None
                sessions = tuple(access.catalog.sessions(name, choice.version, session_column))
        datasets[name] = dataclasses.replace(choice, columns=columns)
    return dataclasses.replace(schema, datasets=datasets, sessions=sessions)


def study_schema_for_user(*, user: Any, tenant: Tenant, study: Study) -> tuple[StudySchema, BuilderAccess]:
    """The builder's schema of ``study`` as this caller may use it, and their access."""
    access = builder_access_for(user=user, tenant=tenant, study=study)
    return schema_for_access(study_schema(study), access), access
