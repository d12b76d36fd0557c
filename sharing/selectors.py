"""Reads of contributions, scoped to the workspace asking: a lab sees what it offered, a consortium what it was
offered; anything else is 404 (a third workspace learns nothing)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from audit.models import AuditEvent
from core.errors import NotFound
from sharing.models import CeilingRaise, Contribution, ContributionStatus
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role

USED_ACTION = "contribution.used"


def contributions_of(tenant: Tenant) -> QuerySet[Contribution]:
    """Contributions the workspace made or received, newest first."""
    return (
        Contribution.objects.filter(Q(lab=tenant) | Q(consortium=tenant))
        .select_related("lab", "consortium")
        .order_by("-offered_at", "-pk")
    )


def contributions_holding_kind(tenant: Tenant) -> int:
    """How many contributions keep ``tenant``'s kind fixed: as a consortium, every offer it has not decided and every
    study it accepted (a withdrawn copy too: it stays in its schema, refused only because the workspace is a
    consortium); as a lab, every offer or contribution still open. The database enforces the same rule
    (migration ``0005_kind_pinned_by_contributions``)."""
    as_consortium = Q(consortium=tenant) & (Q(status=ContributionStatus.OFFERED) | Q(local_study_id__isnull=False))
    as_lab = Q(lab=tenant, status__in=[ContributionStatus.OFFERED, ContributionStatus.ACTIVE])
    return Contribution.objects.filter(as_consortium | as_lab).count()


def contribution_list_for_user(*, user: Any, tenant: Tenant) -> QuerySet[Contribution]:
    """The workspace's contributions (members see them: the consortium's catalog names its contributors)."""
    role_require(user=user, tenant=tenant, minimum=Role.VIEWER)
    return contributions_of(tenant)


def contribution_get_for_user(*, user: Any, tenant: Tenant, contribution_id: int) -> Contribution:
    """One contribution of this workspace (either side), or 404."""
    contribution = contribution_list_for_user(user=user, tenant=tenant).filter(pk=contribution_id).first()
    if contribution is None:
        raise NotFound("No such contribution.")
    return contribution


def contribution_side(contribution: Contribution, tenant: Tenant) -> str:
    """``lab`` or ``consortium``: which side of ``contribution`` the workspace is."""
    return "lab" if contribution.lab_id == tenant.pk else "consortium"


def usage_events(*, contribution: Contribution) -> QuerySet[AuditEvent]:
    """The lab's record of every use of ``contribution`` (current schema: the lab's), newest first."""
    return AuditEvent.objects.filter(
        action=USED_ACTION, target_type="sharing.contribution", target_id=str(contribution.pk)
    ).order_by("-id")


def raises_for(contribution: Contribution) -> QuerySet[CeilingRaise]:
    """Requests to go beyond the ceiling of ``contribution``, newest first."""
    return CeilingRaise.objects.filter(contribution=contribution).select_related("user", "decided_by")
