"""Reads for access requests, terms of use and notifications, scoped to the caller."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from access.models import Grant
from access.selectors import live_q
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
