"""API: the audit log (stewards and owners) and chain verification (docs/contract.md, "Audit and lineage")."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from audit.models import AuditEvent
from audit.services import audit_read_record
from audit.trail.csv_export import audit_csv_lines
from audit.trail.selectors import AuditFilters, audit_events_for_user
from audit.verification import audit_chain_verify
from core.api_fields import ApiDateTime
from core.pagination import PagePagination
from tenants.api_auth import principal
from tenants.role_checks import role_require
from tenants.roles import Role

router = Router(tags=["audit"])


class AuditFilter(Schema):
    action: str | None = Field(None, description="Exact action, or a prefix ending with '.' (e.g. 'query.').")
    actor: str | None = Field(None, description="Actor e-mail.")
    study: str | None = Field(None, description="Study slug: events about the study, its datasets and runs.")
    dataset: str | None = Field(None, description="Dataset name (within `study` if given): its events and runs.")
    since: ApiDateTime | None = None
    until: ApiDateTime | None = None

    def to_filters(self) -> AuditFilters:
        return AuditFilters(**self.model_dump())


class AuditEventOut(Schema):
    id: int
    at: datetime
    actor: str | None
    action: str
    target: dict[str, str]
    details: dict[str, Any]
    ip: str | None
    user_agent: str
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
    wanted = filters.to_filters()
    events = audit_events_for_user(user=caller.user, tenant=caller.tenant, filters=wanted)
    audit_read_record(actor=caller.user, request=request, what="api", filters=wanted.as_details())
    return events


@router.get("/audit/export.csv", response={200: None})
def audit_export_csv(request: HttpRequest, filters: Query[AuditFilter]) -> StreamingHttpResponse:
    """The filtered audit log as CSV (formula-safe), newest first; the export is itself audited."""
    caller = principal(request)
    wanted = filters.to_filters()
    events = audit_events_for_user(user=caller.user, tenant=caller.tenant, filters=wanted)
    audit_read_record(actor=caller.user, request=request, what="csv", filters=wanted.as_details())
    response = StreamingHttpResponse(audit_csv_lines(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response


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
