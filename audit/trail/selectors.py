"""Reads of the audit log (stewards and owners): one filter for the API, the pages and the CSV export.

Filters: action (exact, or a prefix ending with '.'), actor (e-mail), study (slug), dataset (name; within the study
when both are given) and time (since inclusive, until exclusive). An event matches a study or dataset when it targets
it, one of its versions, or a run that read one of its versions, or names it in its details.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast

from audit.models import AuditEvent
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role

RUN = "queries.queryrun"
DATASET = "datasets.dataset"
VERSION = "datasets.datasetversion"
STUDY = "datasets.study"


@dataclass(frozen=True)
class AuditFilters:
    """What to look for in the audit log (every field optional)."""

    action: str | None = None
    actor: str | None = None
    study: str | None = None
    dataset: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_details(self) -> dict[str, Any]:
        """The filters as JSON-safe details of the ``audit.read`` event."""
        return {
            key: (value.isoformat() if isinstance(value, datetime) else value) for key, value in asdict(self).items()
        }


def _ids(queryset: QuerySet[Any], field: str = "pk") -> QuerySet[Any]:
    return queryset.annotate(_as_text=Cast(field, CharField())).values("_as_text")


def _dataset_q(study_slug: str | None, name: str) -> Q:
    from datasets.models import Dataset, DatasetVersion
    from queries.models import QueryRunVersion

    datasets = Dataset.all_objects.filter(name=name)
    if study_slug:
        datasets = datasets.filter(study__slug=study_slug)
    versions = DatasetVersion.all_objects.filter(dataset__in=datasets)
    runs = QueryRunVersion.objects.filter(version__in=versions)
    named = Q(details__dataset=name)
    if study_slug:
        named &= Q(details__study=study_slug)
    return (
        Q(target_type=DATASET, target_id__in=_ids(datasets))
        | Q(target_type=VERSION, target_id__in=_ids(versions))
        | Q(target_type=RUN, target_id__in=_ids(runs, "run_id"))
        | named
    )


def _study_q(slug: str) -> Q:
    from datasets.models import Dataset, DatasetVersion, Study
    from queries.models import QueryRun

    studies = Study.objects.filter(slug=slug)
    return (
        Q(target_type=STUDY, target_id__in=_ids(studies))
        | Q(target_type=DATASET, target_id__in=_ids(Dataset.all_objects.filter(study__in=studies)))
        | Q(target_type=VERSION, target_id__in=_ids(DatasetVersion.all_objects.filter(dataset__study__in=studies)))
        | Q(target_type=RUN, target_id__in=_ids(QueryRun.objects.filter(study__in=studies)))
        | Q(details__study=slug)
    )


def audit_events_filter(filters: AuditFilters) -> QuerySet[AuditEvent]:
    """Events of the current schema matching ``filters``, newest first (no authorization: see below)."""
    events = AuditEvent.objects.order_by("-id")
    if filters.action:
        events = (
            events.filter(action__startswith=filters.action)
            if filters.action.endswith(".")
            else events.filter(action=filters.action)
        )
    if filters.actor:
        events = events.filter(actor_email__iexact=filters.actor.strip())
    if filters.dataset:
        events = events.filter(_dataset_q(filters.study, filters.dataset.strip()))
    elif filters.study:
        events = events.filter(_study_q(filters.study.strip()))
    if filters.since:
        events = events.filter(at__gte=filters.since)
    if filters.until:
        events = events.filter(at__lt=filters.until)
    return events


def audit_events_for_user(*, user: Any, tenant: Tenant, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """The filtered audit log, for stewards and owners (403 for other members, 404 for strangers)."""
    role_require(user=user, tenant=tenant, minimum=Role.STEWARD, action="read the audit log")
    return audit_events_filter(filters)


def audit_actions(limit: int = 500) -> list[str]:
    """The distinct actions recorded in the current workspace (for the log's action filter)."""
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()[:limit])
