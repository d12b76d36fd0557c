"""Study defaults from the Console: what every analyst may do with a study unless granted more (a study-wide
analyst grant, ``source=study_default``), or the workspace's profile when the study has none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from access.models import Grant
from access.selectors import live_q
from access.services import grant_create, grant_revoke
from core.config import config_get
from core.errors import InvalidInput
from datasets.import_services import ANALYST_LEVELS
from datasets.models import Study
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role


@dataclass(frozen=True)
class StudyDefault:
    study: Study
    level: str  # the study's own default, or "" when the workspace's applies
    effective: str


def study_defaults_for_user(*, user: Any, tenant: Tenant) -> list[StudyDefault]:
    """Every study with the analysts' default level (stewards and owners)."""
    role_require(user=user, tenant=tenant, minimum=Role.STEWARD, action="see the study defaults")
    workspace = str(config_get("analyst_default_level", tenant))
    grants = Grant.objects.filter(live_q(), role=Role.ANALYST, dataset__isnull=True).order_by("pk")
    own = {grant.study_id: grant.level for grant in grants}  # newest wins, as in access's explanation
    return [
        StudyDefault(study=s, level=own.get(s.pk, ""), effective=own.get(s.pk, workspace))
        for s in Study.objects.order_by("name")
    ]


def study_default_set(
    *, tenant: Tenant, actor: Any, study: Study, level: str, request: HttpRequest | None = None
) -> None:
    """Replace the study's analyst default with ``level`` ("" = the workspace's default); each change audited."""
    if level and level not in ANALYST_LEVELS:
        raise InvalidInput(f"Unknown level {level!r}; choose one of {', '.join(ANALYST_LEVELS)}.", code="invalid_level")
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="set study defaults")
    with transaction.atomic():
        current = list(Grant.objects.filter(live_q(), study=study, role=Role.ANALYST, dataset__isnull=True))
        if len(current) == 1 and current[0].level == level:
            return
        for grant in current:
            grant_revoke(tenant=tenant, actor=actor, grant=grant, request=request)
        if level:
            grant_create(
                tenant=tenant,
                actor=actor,
                study=study,
                role=Role.ANALYST,
                level=level,
                reason="Study default set in the Console.",
                source="study_default",
                request=request,
            )
