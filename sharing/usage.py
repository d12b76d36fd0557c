"""The contributing lab's record of every use of its data in a consortium (``contribution.used`` in its chain).

Every count, run, row page, report, export and analysis already leaves an event in the consortium's chain. When such
an event names a contributed study (directly, or through a run of it), the same request records ``contribution.used``
in the lab's chain — in the consortium's transaction, so a use that rolls back leaves no record on either side.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.models import AuditEvent
from audit.services import audit_event_record
from queries.models import QueryRun
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
}


def _study_id_of(event: AuditEvent) -> int | None:
    if not event.target_id.isdigit():
        return None
    if event.target_type == "datasets.study":
        return int(event.target_id)
    if event.target_type == "queries.queryrun":
        return QueryRun.objects.filter(pk=int(event.target_id)).values_list("study_id", flat=True).first()
    return None


@receiver(post_save, sender=AuditEvent)
def _contribution_used(sender: Any, *, instance: AuditEvent, created: bool, **kwargs: Any) -> None:
    """Mirror a use of a contributed study into the lab's chain."""
    action = USE_ACTIONS.get(instance.action)
    if not created or action is None or not may_hold_contributions():
        return
    study_id = _study_id_of(instance)
    contribution = contribution_of_local_study(study_id) if study_id is not None else None
    if contribution is None:
        return
    details: dict[str, Any] = {
        "consortium": contribution.consortium.slug,
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
        target_repr=f"{contribution.study_slug} -> {contribution.consortium.slug}",
        details=details,
        schema_name=contribution.lab.schema_name,
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
