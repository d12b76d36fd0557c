"""The contributing lab ends an approval beyond the ceiling it gave (one without an expiry would otherwise last as
long as the contribution): the person is back at the ceiling at their next request in the consortium, and the grant
the approval made there is revoked with it."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_tenants.utils import schema_context

from access.models import Grant
from access.permissions import study_permissions_sync
from access.selectors import live_q
from audit.services import audit_event_record, audit_event_record_in
from core.errors import Conflict, Forbidden, NotFound
from datasets.models import Study
from sharing.models import CeilingRaise, Contribution
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role


def _consortium_grants_revoke(*, consortium: Tenant, raised: CeilingRaise, actor: Any) -> int:
    """Revoke the live grants the approval made in ``consortium`` (audited there); returns how many."""
    with schema_context(consortium.schema_name):
        now = timezone.now()
        grants = Grant.objects.select_for_update(of=("self",)).filter(live_q(now), source=raised.grant_source)
        studies: set[int] = set()
        revoked = 0
        for grant in grants.select_related("study").order_by("pk"):
            grant.revoked_at, grant.revoked_by = now, actor
            grant.save(update_fields=["revoked_at", "revoked_by"])
            audit_event_record(
                action="grant.revoked",
                actor=actor,
                target=grant,
                details={
                    "study": grant.study.slug,
                    "dataset": None,
                    "user": raised.user.email,
                    "level": grant.level,
                    "source": grant.source,
                    "reason": "raise_revoked",
                },
            )
            studies.add(grant.study_id)
            revoked += 1
        for study in Study.objects.filter(pk__in=studies):
            live = Grant.objects.filter(study=study, role="").filter(live_q()).select_related("team")
            study_permissions_sync(study=study, live_grants=list(live))
    return revoked


def raise_revoke(
    *, tenant: Tenant, actor: Any, contribution: Contribution, raise_id: int, request: HttpRequest | None = None
) -> CeilingRaise:
    """End an approval beyond the ceiling (the lab's stewards and owners; 403 ``contributor_only`` elsewhere, 409
    ``request_decided`` for a request that is not a live approval). Audited ``contribution.raise_revoked`` in the
    consortium's chain, then the lab's."""
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="end approvals")
    if contribution.lab_id != tenant.pk:
        raise Forbidden("Only the contributing lab ends its approvals.", code="contributor_only")
    with transaction.atomic():
        raised = (
            CeilingRaise.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=raise_id, contribution=contribution)
            .first()
        )
        if raised is None:
            raise NotFound("No such request.")
        if raised.effective_status != "approved":
            raise Conflict(f"This request is {raised.effective_status}.", code="request_decided")
        raised.status = "revoked"
        raised.save(update_fields=["status"])
        consortium = contribution.consortium
        if consortium is not None:
            _consortium_grants_revoke(consortium=consortium, raised=raised, actor=actor)
        details = {
            "contribution": contribution.pk,
            "study": contribution.study_slug,
            "consortium": contribution.consortium_shown[0],
            "user": raised.user.email,
            "level": raised.level,
            "request": raised.pk,
        }
        schemas = ([consortium.schema_name] if consortium is not None else []) + [tenant.schema_name]
        audit_event_record_in(  # consortium first, then lab (the order every sharing change takes)
            schemas,
            action="contribution.raise_revoked",
            actor=actor,
            request=request,
            target_type="sharing.contribution",
            target_id=str(contribution.pk),
            details=details,
        )
    return raised
