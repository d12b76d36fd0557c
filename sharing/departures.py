"""A consortium member who leaves keeps nothing a lab approved for them: their approvals beyond a contribution's
ceiling end and their pending requests are withdrawn, in the transaction that removed the membership (re-added
later, they start at the ceiling like anyone the lab never approved). A lab steward who leaves the lab or is lowered
below steward leaves no pending offer behind: the offers they made are withdrawn in the same transaction."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from audit.services import audit_event_record_in
from sharing.models import CeilingRaise
from sharing.services import offers_of_maker_withdrawn
from tenants.events import member_removed, member_role_changed
from tenants.models import Tenant


def raises_of_departed_member(*, tenant: Tenant, user: Any, actor: Any, request: HttpRequest | None = None) -> int:
    """End ``user``'s live approvals beyond the ceiling of contributions to ``tenant`` (status ``revoked``) and
    withdraw their pending requests (``withdrawn``); audited ``contribution.raise_ended`` / ``.raise_withdrawn``
    in the consortium's chain, then the lab's. Returns how many were closed."""
    now = timezone.now()
    live = Q(status="pending") | (
        Q(status="approved") & (Q(granted_expires_at__isnull=True) | Q(granted_expires_at__gt=now))
    )
    closed = 0
    rows = CeilingRaise.objects.select_for_update(of=("self",)).select_related("contribution__lab")
    for raised in rows.filter(live, contribution__consortium=tenant, user_id=user.pk).order_by("pk"):
        ended = raised.status == "approved"
        raised.status = "revoked" if ended else "withdrawn"
        raised.save(update_fields=["status"])
        contribution = raised.contribution
        details = {
            "study": contribution.study_slug,
            "consortium": tenant.slug,
            "user": user.email,
            "level": raised.level,
            "request": raised.pk,
            "reason": "member_removed",
        }
        schemas = [tenant.schema_name] + ([contribution.lab.schema_name] if contribution.lab is not None else [])
        audit_event_record_in(  # consortium first, then lab (the order every sharing change takes)
            schemas,
            action="contribution.raise_ended" if ended else "contribution.raise_withdrawn",
            actor=actor,
            request=request,
            target_type="sharing.contribution",
            target_id=str(contribution.pk),
            details=details,
        )
        closed += 1
    return closed


@receiver(member_removed)
def _member_removed(
    sender: Any, *, tenant: Tenant, user: Any, actor: Any, request: HttpRequest | None, **kwargs: Any
) -> None:
    raises_of_departed_member(tenant=tenant, user=user, actor=actor, request=request)
    offers_of_maker_withdrawn(lab=tenant, maker=user, actor=actor, request=request, reason="offerer_removed")


@receiver(member_role_changed)
def _member_role_changed(
    sender: Any, *, tenant: Tenant, user: Any, role: str, actor: Any, request: HttpRequest | None, **kwargs: Any
) -> None:
    offers_of_maker_withdrawn(lab=tenant, maker=user, actor=actor, request=request, reason="offerer_role_changed")
