"""What the catalog (dataset pages, data dictionary API and CSV) shows a caller, by their level per dataset.

- Example values (min, max, mean, std, top values, distribution) are hidden for identifying columns without the
  identifying grant, and for the participant id column below ``query`` (its values are participant ids).
- Below ``query`` (metadata and count callers), profile counts that are small cells — a top value's count, a
  column's missing count — are suppressed below the study's threshold k, and distributions are not drawn.
  Profile statistics are fixed per version (not queryable), so there is nothing to difference; suppression alone
  keeps small cells out of sight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from access.enforcement import identifying_columns_hidden
from access.levels import Level, level_at_least
from access.selectors import datasets_explain_for_user
from access.suppression import suppression_threshold
from datasets.models import Dataset, Study
from tenants.models import Tenant


@dataclass(frozen=True)
class CatalogView:
    """Per dataset name: the caller's level, the columns without example values, and whether counts are exact."""

    threshold: int
    levels: dict[str, Level] = field(default_factory=dict)
    hidden: dict[str, set[str]] = field(default_factory=dict)

    def values_hidden(self, dataset: str) -> set[str]:
        return self.hidden.get(dataset, set())

    def exact_counts(self, dataset: str) -> bool:
        """Profile counts are shown exactly from the ``query`` level on."""
        return level_at_least(self.levels.get(dataset), Level.QUERY)

    def count(self, dataset: str, value: Any) -> Any:
        """A profile count as this caller may see it (None when it is a small cell they may not see)."""
        if self.exact_counts(dataset) or not isinstance(value, int | float) or isinstance(value, bool):
            return value
        return value if value >= self.threshold else None


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
    return CatalogView(threshold=suppression_threshold(tenant=tenant, study=study), levels=levels, hidden=hidden)


def catalog_values_hidden(*, user: Any, tenant: Tenant, study: Study) -> dict[str, set[str]]:
    """Per dataset of ``study``: columns whose example values the caller may not see in the data dictionary."""
    return catalog_view_for_user(user=user, tenant=tenant, study=study).hidden


def top_values_for(view: CatalogView, dataset: str, raw: Any) -> Any:
    """A column profile's top values as this caller may see them.

    Below ``query`` a value held by fewer than k rows is left out altogether (a rare label is itself a small cell:
    it tells that someone in the study has it); the remaining values keep their counts (all at least k).
    """
    if view.exact_counts(dataset) or not isinstance(raw, list):
        return raw
    shown: list[Any] = []
    for item in raw:
        if isinstance(item, dict):
            if view.count(dataset, item.get("count")) is not None:
                shown.append(item)
        elif isinstance(item, list | tuple) and len(item) == 2:
            if view.count(dataset, item[1]) is not None:
                shown.append(list(item))
        else:
            shown.append(item)
    return shown
