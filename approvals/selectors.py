"""Reads for access requests, terms of use and notifications, scoped to the caller."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from access.levels import level_at_least
from access.models import Grant
from access.selectors import datasets_levels_for_user, live_q
from approvals.models import AccessRequest, DataUseAgreement, Notification, RequestStatus
from core.errors import InvalidInput, NotFound
from datasets.models import Study
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role, role_at_least

REVOKED = "revoked"  # shown for approved requests whose grants were all revoked (not a stored status)
STATUS_FILTERS = {choice.value for choice in RequestStatus} | {REVOKED}


def _base() -> QuerySet[AccessRequest]:
    now = timezone.now()
    own_grants = Grant.objects.filter(
        source=Concat(Value("access_request:"), Cast(OuterRef("pk"), output_field=CharField()))
    )
    return (
        AccessRequest.objects.select_related("study", "requester", "decided_by", "dua")
        .prefetch_related("datasets")
        .annotate(
            has_live_grants=Exists(own_grants.filter(live_q(now))),
            has_expired_grants=Exists(own_grants.filter(revoked_at__isnull=True, expires_at__lte=now)),
        )
    )


def access_request_list_for_user(
    *, user: Any, tenant: Tenant, status: str | None = None, mine: bool = False
) -> QuerySet[AccessRequest]:
    """Stewards and owners see the tenant's queue (``mine=True``: only their own); others see their own requests.

    ``status`` filters by the stored status (``expired``: approved requests whose access has run out).
    """
    membership = role_require(user=user, tenant=tenant, minimum=Role.VIEWER, action="see access requests")
    queryset = _base()
    if mine or not role_at_least(membership.role, Role.STEWARD):
        queryset = queryset.filter(requester_id=user.pk)
    if status:
        if status not in STATUS_FILTERS:
            raise InvalidInput(
                f"Unknown status {status!r}; use one of {', '.join(sorted(STATUS_FILTERS))}.", code="invalid_status"
            )
        now = timezone.now()
        approved = queryset.filter(status=RequestStatus.APPROVED)
        ended = Q(granted_expires_at__lte=now) | Q(has_live_grants=False)
        if status == RequestStatus.EXPIRED:
            queryset = approved.filter(
                Q(granted_expires_at__lte=now) | Q(has_live_grants=False, has_expired_grants=True)
            )
        elif status == REVOKED:
            queryset = approved.filter(Q(has_live_grants=False) & Q(has_expired_grants=False)).exclude(
                granted_expires_at__lte=now
            )
        elif status == RequestStatus.APPROVED:
            queryset = approved.exclude(ended)
        else:
            queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "-pk")


def access_request_get_for_user(*, user: Any, tenant: Tenant, request_id: int) -> AccessRequest:
    """One request the caller may see (their own, or any for stewards and owners), or 404."""
    found = access_request_list_for_user(user=user, tenant=tenant).filter(pk=request_id).first()
    if found is None:
        raise NotFound("No such access request.")
    return found


def access_request_grants(*, access_request: AccessRequest) -> QuerySet[Grant]:
    """The grants an approved request created (live or not)."""
    return Grant.objects.filter(source=access_request.grant_source).select_related("dataset").order_by("pk")


def dua_list_for_study(*, study: Study) -> QuerySet[DataUseAgreement]:
    """Every version of a study's terms, newest first (members may read them)."""
    return DataUseAgreement.objects.filter(study=study).select_related("created_by").order_by("-version")


def notification_list_for_user(*, user: Any, unread_only: bool = False) -> QuerySet[Notification]:
    """The user's notifications in this workspace, newest first."""
    queryset = Notification.objects.filter(user_id=user.pk)
    if unread_only:
        queryset = queryset.filter(read_at__isnull=True)
    return queryset.order_by("-created_at", "-pk")


def notification_unread_count(*, user: Any) -> int:
    """How many unread notifications the user has here."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).count()


def access_request_pending_count(*, membership: Any) -> int:
    """How many requests wait for a decision in the current workspace; 0 for callers below steward."""
    if membership is None or not role_at_least(membership.role, Role.STEWARD):
        return 0
    return AccessRequest.objects.filter(status=RequestStatus.PENDING).count()


def access_request_open_count(*, user: Any) -> int:
    """How many of the caller's own requests wait for a decision in the current workspace."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return AccessRequest.objects.filter(requester_id=user.pk, status=RequestStatus.PENDING).count()


@dataclass(frozen=True)
class DemographicsGap:
    """A request whose outcome would not be usable: every query starts from the demographics table, and the
    requester would have less than ``needed`` on it (``have`` is their level now, None for none)."""

    dataset: str
    needed: str
    have: str | None

    @property
    def text(self) -> str:
        return (
            f"Every query starts from the demographics table {self.dataset}, where the requester has "
            f"{self.have or 'no access'}: without {self.needed} on it too, {self.needed} on the other tables "
            "gives nothing usable."
        )


def demographics_gap(
    *, user: Any, tenant: Tenant, study: Study, datasets: Iterable[str], level: str
) -> DemographicsGap | None:
    """What ``user`` would still lack on the study's demographics table after getting ``level`` on ``datasets``
    (None when nothing: the demographics table is among them, or they already have the level on it)."""
    demographics = study.demographics
    if demographics is None or demographics.name in set(datasets):
        return None
    have = datasets_levels_for_user(user=user, tenant=tenant, study=study).get(demographics.name)
    if level_at_least(have, level):
        return None
    return DemographicsGap(dataset=demographics.name, needed=str(level), have=have.value if have else None)


def access_request_demographics_gap(*, tenant: Tenant, access_request: AccessRequest) -> DemographicsGap | None:
    """The demographics gap of a pending request (at the requested level) or an approved one (at the granted
    level); None for other statuses."""
    if access_request.status == RequestStatus.PENDING:
        level = access_request.level
    elif access_request.status == RequestStatus.APPROVED and access_request.granted_level:
        level = access_request.granted_level
    else:
        return None
    return demographics_gap(
        user=access_request.requester,
        tenant=tenant,
        study=access_request.study,
        datasets=[d.name for d in access_request.datasets.all()],
        level=level,
    )
