"""Recomputing the audit hash chain of a schema: finds the first event whose hash or link does not match."""

from __future__ import annotations

from dataclasses import dataclass

from audit.models import AuditEvent
from audit.services import audit_event_digest

BATCH = 2000


@dataclass(frozen=True)
class ChainReport:
    """Result of a verification: whether the chain holds, how many events were checked, the first bad one."""

    ok: bool
    events: int
    first_bad_event: int | None = None
    reason: str = ""


def audit_chain_verify() -> ChainReport:
    """Walk the current schema's events in order, recomputing every hash and every link to the previous one."""
    previous = ""
    checked = 0
    last_id = 0
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:BATCH])
        if not batch:
            return ChainReport(ok=True, events=checked)
        for event in batch:
            if event.prev_hash != previous:
                return ChainReport(False, checked, event.pk, "its link to the previous event is broken")
            if audit_event_digest(event) != event.hash:
                return ChainReport(False, checked, event.pk, "its content does not match its hash")
            previous = event.hash
            checked += 1
            last_id = event.pk
