"""Reads for lineage: datasets and versions including tombstones, and who used a version (runs and exports).

The catalog (``datasets.selectors``) hides deleted datasets and versions; lineage must still name them, so these
readers look through the tombstones. Stewards and owners see everybody's runs and exports; other members only their
own ("who downloaded data derived from version 3" is a steward question).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import NotFound
from datasets.models import Dataset, DatasetVersion, Study
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role, role_at_least


def dataset_get_any(*, study: Study, name: str) -> Dataset:
    """A dataset of the study by name, deleted or not (lineage pages), or 404."""
    dataset = Dataset.all_objects.filter(study=study, name=name).order_by("-id").first()
    if dataset is None:
        raise NotFound("No such dataset.")
    return dataset


def version_get_any(*, dataset: Dataset, number: int) -> DatasetVersion:
    """A version by number, deleted or not, or 404."""
    version = DatasetVersion.all_objects.filter(dataset=dataset, number=number).first()
    if version is None:
        raise NotFound("No such version.")
    return version


def versions_all(dataset: Dataset) -> list[DatasetVersion]:
    """Every version of a dataset, deleted ones included, newest first."""
    return list(DatasetVersion.all_objects.filter(dataset=dataset).order_by("-number"))


@dataclass
class VersionUsage:
    """The runs that read a version and the exports derived from them, as the caller may see them."""

    version: DatasetVersion
    runs: list[Any] = field(default_factory=list)
    everyone: bool = False  # True: the caller sees every member's activity (steward/owner)


def version_usage_for_user(*, user: Any, tenant: Tenant, version: DatasetVersion) -> VersionUsage:
    """Runs that pinned ``version`` (with their exports): all of them for stewards and owners, else the caller's."""
    from queries.models import QueryRun

    membership = role_require(user=user, tenant=tenant, minimum=Role.ANALYST, action="see who used a version")
    everyone = role_at_least(membership.role, Role.STEWARD)
    runs = QueryRun.objects.filter(pinned__version=version).prefetch_related("exports").order_by("-created_at")
    if not everyone:
        runs = runs.filter(created_by=user)
    return VersionUsage(version=version, runs=list(runs.distinct()), everyone=everyone)
