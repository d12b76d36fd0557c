"""The column profiles a variable's checks read: what the caller's catalog shows of a source column.

A definition is checked against its sources' values (a recode map must cover them). From the ``query`` level on a
caller reads the exact profile, so the checks name every uncovered value; below it (viewers, metadata and count
levels, a consortium steward under a ``count`` ceiling) the catalog shows the protected profile
(``access.catalog.CatalogView.profiles``: only values at least k participants hold, ``distinct`` counting only
those, no values of identifying columns or of the participant id). The checks use that same profile, so their
messages never list a value, a count or a bound the caller's catalog hides. A value fewer than k participants hold
is then not seen by the check either: it is missing in harmonized units, as any value without a recode entry.
"""

from __future__ import annotations

from typing import Any

from access.catalog import CatalogView, catalog_view_for_user
from datasets.models import DatasetVersion, Study
from tenants.models import Tenant

#: Set on a protected profile: the check's messages then say the values are not all listed at the caller's level.
PROTECTED_KEY = "values_protected"


class ShownProfiles:
    """The source column profiles one caller may read, one catalog view per study (made on first use)."""

    def __init__(self, *, actor: Any, tenant: Tenant) -> None:
        self.actor = actor
        self.tenant = tenant
        self._views: dict[int, CatalogView] = {}

    def view(self, study: Study) -> CatalogView:
        if study.pk not in self._views:
            self._views[study.pk] = catalog_view_for_user(user=self.actor, tenant=self.tenant, study=study)
        return self._views[study.pk]

    def column(self, study: Study, dataset: str, version: DatasetVersion, column: str) -> dict[str, Any] | None:
        """The profile of ``dataset.column`` at ``version`` as the caller's catalog shows it (None: no such column)."""
        view = self.view(study)
        profile = next((p for p in view.profiles(dataset, version) if p.get("name") == column), None)
        if profile is None or view.exact_counts(dataset):
            return profile
        return {**profile, PROTECTED_KEY: True}
