"""A member who leaves a workspace takes their pending access requests with them: each is withdrawn in the
transaction that removed the membership (audited ``access_request.withdrawn``, ``details.reason``
``member_removed``), so a request made before the removal can never be approved into grants after a re-adding."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from django.http import HttpRequest
from django_tenants.utils import schema_context

from approvals.models import AccessRequest, RequestStatus
from approvals.services import request_withdrawn
from tenants.events import member_removed
from tenants.models import Tenant


def requests_of_departed_member(*, tenant: Tenant, user: Any, actor: Any, request: HttpRequest | None = None) -> int:
    """Withdraw every pending access request of ``user`` in ``tenant``; returns how many."""
    withdrawn = 0
    with schema_context(tenant.schema_name):
        pending = AccessRequest.objects.select_for_update().select_related("study", "requester")
        for locked in pending.filter(requester_id=user.pk, status=RequestStatus.PENDING).order_by("pk"):
            request_withdrawn(locked, actor=actor, request=request, reason="member_removed")
            withdrawn += 1
    return withdrawn


@receiver(member_removed)
def _member_removed(
    sender: Any, *, tenant: Tenant, user: Any, actor: Any, request: HttpRequest | None, **kwargs: Any
) -> None:
    requests_of_departed_member(tenant=tenant, user=user, actor=actor, request=request)
