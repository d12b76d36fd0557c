"""Governance of the demo lab: analysts see counts by default, the core analyst may export, terms are published.

So a newcomer running ``make run`` can try the whole access story: ``researcher@demo.local`` sees aggregate
(suppressed, rounded) counts only and can request access; ``steward@demo.local`` decides in the console.
"""

from __future__ import annotations

from typing import IO, Any

from django_tenants.utils import tenant_context

from access.levels import Level
from access.models import Grant
from access.services import grant_create
from approvals.services import dua_create, dua_current
from datasets.models import Study
from demo.study import DEMO_STUDY

DEMO_TERMS = (
    "Demo terms of use.\n\n"
    "1. Use the data only for the purpose stated in your request.\n"
    "2. Do not try to identify participants or link the data with other sources.\n"
    "3. Do not share row-level data outside the approved team; cite the study in publications.\n"
    "4. Delete exported copies when the approved access expires."
)


def demo_governance_seed(*, tenant: Any, steward: Any, core_analyst: Any, stdout: IO[str] | Any) -> None:
    """Set the demo study's access defaults, the core analyst's export grant and its terms (idempotent)."""
    with tenant_context(tenant):
        study = Study.objects.filter(slug=DEMO_STUDY).first()
        if study is None:
            return
        live = Grant.objects.filter(study=study, revoked_at__isnull=True)
        if not live.filter(role="analyst", dataset__isnull=True).exists():
            grant_create(
                tenant=tenant,
                actor=steward,
                study=study,
                role="analyst",
                level=Level.COUNT,
                reason="Demo: analysts see aggregate counts unless granted more.",
                source="study_default",
            )
        if not live.filter(user=core_analyst, dataset__isnull=True).exists():
            grant_create(
                tenant=tenant,
                actor=steward,
                study=study,
                user=core_analyst,
                level=Level.EXPORT,
                reason="Demo: core lab analyst.",
            )
        if dua_current(study=study) is None:
            dua_create(tenant=tenant, actor=steward, study=study, text=DEMO_TERMS)
    stdout.write(
        "Demo governance: analysts count only by default; analyst@demo.local may export; "
        "researcher@demo.local can request access.\n"
    )
