"""Reads of runs and saved queries, scoped to the caller: your own, or all for stewards and owners."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet

from access.redaction import participant_ids_visible, spec_without_ids
from core.errors import NotFound
from datasets.models import DatasetVersion, Study
from queries.models import QueryRun, SavedQuery
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role, role_at_least


def run_list_for_user(*, user: Any, tenant: Tenant) -> QuerySet[QueryRun]:
    """Runs the caller may see."""
    membership = role_require(user=user, tenant=tenant, minimum=Role.ANALYST, action="see query runs")
    runs = QueryRun.objects.select_related("study", "study__demographics").order_by("-created_at")
    if membership.role in {Role.STEWARD, Role.OWNER}:
        return runs
    return runs.filter(created_by=user)


def run_get_for_user(*, user: Any, tenant: Tenant, run_id: int) -> QueryRun:
    """One run, or 404 (also for runs of other users that the caller may not see)."""
    run = run_list_for_user(user=user, tenant=tenant).filter(pk=run_id).first()
    if run is None:
        raise NotFound("No such run.")
    return run


def saved_query_list_for_user(*, user: Any, tenant: Tenant, study: Study) -> QuerySet[SavedQuery]:
    """Your saved queries of a study and the ones shared with the workspace (drafts excluded)."""
    role_require(user=user, tenant=tenant, minimum=Role.ANALYST, action="see saved queries")
    return SavedQuery.objects.filter(study=study, is_draft=False).filter(Q(owner=user) | Q(shared=True))


def saved_query_get_for_user(*, user: Any, tenant: Tenant, saved_id: int) -> SavedQuery:
    """One visible saved query, or 404."""
    role_require(user=user, tenant=tenant, minimum=Role.ANALYST, action="see saved queries")
    saved = (
        SavedQuery.objects.select_related("study").filter(pk=saved_id).filter(Q(owner=user) | Q(shared=True)).first()
    )
    if saved is None:
        raise NotFound("No such saved query.")
    return saved


def saved_spec_for_user(*, user: Any, tenant: Tenant, saved: SavedQuery) -> tuple[dict[str, Any], int]:
    """A saved query's spec as the caller may read it, and how many participant ids were left out: below
    ``query`` on the study's demographics the id list is removed (``access.redaction``)."""
    spec = dict(saved.spec or {})
    if participant_ids_visible(user=user, tenant=tenant, study=saved.study):
        return spec, 0
    return spec_without_ids(spec)


@dataclass
class VersionUsage:
    """The runs that read a version and the exports derived from them, as the caller may see them."""

    version: DatasetVersion
    runs: list[Any] = field(default_factory=list)
    everyone: bool = False  # True: the caller sees every member's activity (steward/owner)


def version_usage_for_user(*, user: Any, tenant: Tenant, version: DatasetVersion) -> VersionUsage:
    """Runs that pinned ``version`` (with their exports): all of them for stewards and owners, else the caller's."""
    membership = role_require(user=user, tenant=tenant, minimum=Role.ANALYST, action="see who used a version")
    everyone = role_at_least(membership.role, Role.STEWARD)
    runs = QueryRun.objects.filter(pinned__version=version).prefetch_related("exports").order_by("-created_at")
    if not everyone:
        runs = runs.filter(created_by=user)
    return VersionUsage(version=version, runs=list(runs.distinct()), everyone=everyone)
