"""API: the audit log (stewards and owners) and chain verification (interface.md, "Audit and lineage")."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from audit.models import AuditEvent
from audit.services import audit_event_record
from audit.verification import audit_chain_verify
from bdt_project.api_auth import principal
from bdt_project.pagination import PagePagination
from tenants.access import role_require
from tenants.roles import Role

router = Router(tags=["audit"])


class AuditFilter(Schema):
    action: str | None = Field(None, description="Exact action, or a prefix ending with '.' (e.g. 'query.').")
    actor: str | None = Field(None, description="Actor e-mail.")
    since: datetime | None = None
    until: datetime | None = None


class AuditEventOut(Schema):
    id: int
    at: datetime
    actor: str | None
    action: str
    target: dict[str, str]
    details: dict[str, Any]
    ip: str | None
    request_id: str
    hash: str
    prev_hash: str

    @staticmethod
    def resolve_actor(event: AuditEvent) -> str | None:
        return event.actor_email or None

    @staticmethod
    def resolve_target(event: AuditEvent) -> dict[str, str]:
        return {"type": event.target_type, "id": event.target_id, "repr": event.target_repr}


@router.get("/audit", response=list[AuditEventOut])
@paginate(PagePagination)
def audit_list(request: HttpRequest, filters: Query[AuditFilter]) -> Any:
    """Audit events of this workspace, newest first (stewards and owners; reading the log is itself audited)."""
    caller = principal(request)
    role_require(user=caller.user, tenant=caller.tenant, minimum=Role.STEWARD, action="read the audit log")
    events = AuditEvent.objects.order_by("-id")
    if filters.action:
        events = (
            events.filter(action__startswith=filters.action)
            if filters.action.endswith(".")
            else events.filter(action=filters.action)
        )
    if filters.actor:
        events = events.filter(actor_email__iexact=filters.actor)
    if filters.since:
        events = events.filter(at__gte=filters.since)
    if filters.until:
        events = events.filter(at__lt=filters.until)
    audit_event_record(action="audit.read", actor=caller.user, request=request, details=filters.model_dump(mode="json"))
    return events


class VerifyOut(Schema):
    ok: bool
    events: int
    first_bad_event: int | None
    reason: str


@router.get("/audit/verify", response=VerifyOut)
def audit_verify(request: HttpRequest) -> dict[str, Any]:
    """Recompute this workspace's audit chain and name the first event that does not match."""
    caller = principal(request)
    role_require(user=caller.user, tenant=caller.tenant, minimum=Role.STEWARD, action="verify the audit log")
    report = audit_chain_verify()
    return {
        "ok": report.ok,
        "events": report.events,
        "first_bad_event": report.first_bad_event,
        "reason": report.reason,
    }
