"""How datasets and access see contributed studies: :class:`ContributionOrigins` answers ``study_origins``' questions
from the contributions (public schema) at the moment they are asked."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from audit.services import current_schema_name
from core.config import config_get
from datasets.models import DatasetVersion, Study
from datasets.study_origins import StudyOrigin
from sharing.mirror import mirror_refresh
from sharing.models import CeilingRaise, Contribution, ContributionStatus
from tenants.models import Tenant, WorkspaceKind, frozen_q

USED_STATUSES = (ContributionStatus.ACTIVE, ContributionStatus.WITHDRAWN)


def _kind_known_not(kind: str) -> bool:
    """True when the connection's tenant is known to be of another kind than ``kind`` (skips a query)."""
    tenant_kind = getattr(getattr(connection, "tenant", None), "kind", None)
    return tenant_kind is not None and tenant_kind != kind


def may_hold_contributions() -> bool:
    """False when the current schema is surely not a consortium's (a lab's request, the public schema)."""
    return not _kind_known_not(WorkspaceKind.CONSORTIUM) and current_schema_name() != "public"


def contribution_of_local_study(study_id: int) -> Contribution | None:
    """The contribution behind study ``study_id`` of the current (consortium) schema, accepted once."""
    if not may_hold_contributions():
        return None
    return (
        Contribution.objects.select_related("lab", "consortium")
        .filter(consortium__schema_name=current_schema_name(), local_study_id=study_id, status__in=USED_STATUSES)
        .first()
    )


def origin_of(contribution: Contribution) -> StudyOrigin:
    """The contribution as ``study_origins`` sees it."""
    live = Q(granted_expires_at__isnull=True) | Q(granted_expires_at__gt=timezone.now())  # expiry bites at use
    raised = tuple(
        CeilingRaise.objects.filter(live, contribution=contribution, status="approved").values_list("user_id", "level")
    )
    lab = contribution.lab
    return StudyOrigin(
        contribution_id=contribution.pk,
        tenant_slug=contribution.lab_shown[0],
        tenant_name=contribution.lab_shown[1],
        ceiling=contribution.level,
        active=contribution.usable,
        raised=tuple((int(uid), str(level)) for uid, level in raised),
        **(_lab_disclosure(lab, contribution.study_id) if lab is not None else {}),
    )


def _lab_disclosure(lab: Tenant, lab_study_id: int) -> dict[str, Any]:
    """The lab's disclosure settings (the consortium may only be stricter) and its study's record-key identity (the
    study's own threshold is mirrored with the study's fields)."""
    return {
        "threshold_floor": int(config_get("suppression_threshold", lab)),
        "max_noise_floor": int(config_get("disclosure_max_noise", lab)),
        "variance_floor": float(config_get("disclosure_noise_variance", lab)),
        "key_identity": f"{lab.schema_name}/study/{lab_study_id}",
    }


class ContributionOrigins:
    """The ``StudyOriginSource`` of sharing."""

    def origin(self, study: Study) -> StudyOrigin | None:
        contribution = contribution_of_local_study(study.pk)
        return origin_of(contribution) if contribution is not None else None

    def unusable_ids(self) -> set[int]:
        if not may_hold_contributions():
            return set()
        return {
            pk
            for pk in Contribution.objects.filter(
                Q(status=ContributionStatus.WITHDRAWN) | Q(lab__isnull=True) | frozen_q("lab__"),
                consortium__schema_name=current_schema_name(),
                local_study_id__isnull=False,
            ).values_list("local_study_id", flat=True)
            if pk is not None
        }

    def refresh(self, study: Study) -> None:
        contribution = contribution_of_local_study(study.pk)
        if contribution is not None and contribution.status == ContributionStatus.ACTIVE:
            mirror_refresh(contribution, study)

    def read_elsewhere(self, version: DatasetVersion) -> bool:
        if _kind_known_not(WorkspaceKind.LAB):
            return False
        return Contribution.objects.filter(
            lab__schema_name=current_schema_name(),
            study_id=version.dataset.study_id,
            local_study_id__isnull=False,
        ).exists()
