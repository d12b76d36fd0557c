"""The contributing lab's record of every use of its data in a consortium (``contribution.used`` in its chain).

Every count, run, row page, report, export and analysis already leaves an event in the consortium's chain. When such
an event names a contributed study (directly, through a run of it, or among the ``studies`` of a federated count, row
page, export or analysis), the same request records ``contribution.used`` in the lab's chain of each contributed
study — in the consortium's transaction, so a use that rolls back leaves no record on either side. (A federated run's
parts are ordinary runs: each records its own use.)
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.models import AuditEvent
from audit.services import audit_event_record
from datasets.models import Study
from queries.models import QueryRun
from sharing.models import Contribution
from sharing.origins import contribution_of_local_study, may_hold_contributions
from sharing.selectors import USED_ACTION

#: consortium event -> the action the lab reads in its usage report
USE_ACTIONS: dict[str, str] = {
    "query.count": "count",
    "query.report": "report",
    "query.run_created": "run",
    "query.preview": "rows",
    "query.report_read": "report",
    "query.exported": "export",
    "analysis.computed": "analysis",
    "analysis.plotted": "analysis",
    "analysis.selection": "analysis",
    "analysis.profile_requested": "analysis",
    "analysis.profile_downloaded": "export",
    "federated.count": "count",
    "federated.preview": "rows",
    "federated.exported": "export",
}


def _study_ids_of(event: AuditEvent) -> list[int]:
    """The studies an event reads: its target (a study, a run of one), else the slugs in ``details.studies``."""
    if event.target_id.isdigit() and event.target_type == "datasets.study":
        return [int(event.target_id)]
    if event.target_id.isdigit() and event.target_type == "queries.queryrun":
        study_id = QueryRun.objects.filter(pk=int(event.target_id)).values_list("study_id", flat=True).first()
        return [study_id] if study_id is not None else []
    slugs = (event.details or {}).get("studies")
    if not isinstance(slugs, list) or not slugs:
        return []
    names = list(dict.fromkeys(str(slug) for slug in slugs))
    found = dict(Study.objects.filter(slug__in=names).values_list("slug", "pk"))
    return [found[name] for name in names if name in found]


@receiver(post_save, sender=AuditEvent)
def _contribution_used(sender: Any, *, instance: AuditEvent, created: bool, **kwargs: Any) -> None:
    """Mirror a use of a contributed study into the lab's chain."""
    action = USE_ACTIONS.get(instance.action)
    if not created or action is None or not may_hold_contributions():
        return
    for study_id in _study_ids_of(instance):
        contribution = contribution_of_local_study(study_id)
        if contribution is not None and contribution.lab is not None:  # a deleted lab has no chain to write to
            _use_record(instance, action, contribution, contribution.lab.schema_name)


def _use_record(instance: AuditEvent, action: str, contribution: Contribution, lab_schema: str) -> None:
    """One ``contribution.used`` event in the lab's chain for consortium event ``instance``."""
    details: dict[str, Any] = {
        "consortium": contribution.consortium_shown[0],
        "user": instance.actor_email,
        "action": action,
        "event": instance.action,
        "study": contribution.study_slug,
        "consortium_study": contribution.local_slug,
    }
    purpose = (instance.details or {}).get("purpose")
    if purpose:
        details["purpose"] = str(purpose)
    audit_event_record(
        action=USED_ACTION,
        actor=instance.actor,
        target_type="sharing.contribution",
        target_id=str(contribution.pk),
        target_repr=f"{contribution.study_slug} -> {contribution.consortium_shown[0]}",
        details=details,
        schema_name=lab_schema,
    )


def usage_item(event: AuditEvent) -> dict[str, Any]:
    """One line of the usage report."""
    details = event.details or {}
    return {
        "at": event.at.isoformat(),
        "consortium": details.get("consortium", ""),
        "user": details.get("user", event.actor_email),
        "action": details.get("action", ""),
        "purpose": details.get("purpose", ""),
    }
