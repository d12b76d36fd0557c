"""Writing audit events. Call these from services, inside the transaction of the change being audited."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from core.config import config_get
from core.monitoring.usage import tenant_action_count

logger = logging.getLogger(__name__)

HASHED_FIELDS = (
    "at",
    "actor_id",
    "actor_email",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "details",
    "ip",
    "user_agent",
    "request_id",
    "prev_hash",
)


def audit_event_digest(event: AuditEvent) -> str:
    """SHA-256 over a canonical JSON of the event's fields (including the previous event's hash)."""
    payload: dict[str, Any] = {}
    for field in HASHED_FIELDS:
        value = getattr(event, field)
        if field == "at":
            value = value.isoformat(timespec="microseconds")
        payload[field] = value
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def current_schema_name() -> str:
    """The schema the database connection is set to (django-tenants)."""
    return str(getattr(connection, "schema_name", "public"))


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _target_fields(target: models.Model | None) -> dict[str, str]:
    if target is None:
        return {"target_type": "", "target_id": "", "target_repr": ""}
    return {
        "target_type": target._meta.label_lower,
        "target_id": str(target.pk),
        "target_repr": str(target)[:300],
    }


def _append(event: AuditEvent) -> AuditEvent:
    with transaction.atomic():
        cursor = connection.cursor()
        # One chain per schema: serialize appenders so the chain never forks.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"audit-chain:{current_schema_name()}"])
        last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event.prev_hash = last or ""
        event.hash = audit_event_digest(event)
        event.save(force_insert=True)
    return event


def audit_event_record(
    *,
    action: str,
    actor: Any = None,
    request: HttpRequest | None = None,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    target_repr: str = "",
    details: dict[str, Any] | None = None,
    schema_name: str | None = None,
) -> AuditEvent:
    """Append one event to the audit chain of the current schema (or ``schema_name``).

    ``actor`` defaults to the request's authenticated user. Run it inside the transaction of the change so that
    a rolled-back change leaves no event.
    """
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = user
    fields = _target_fields(target)
    if not target:
        fields = {"target_type": target_type, "target_id": target_id, "target_repr": target_repr[:300]}
    event = AuditEvent(
        at=timezone.now(),
        actor=actor if getattr(actor, "pk", None) else None,
        actor_email=getattr(actor, "email", "") or "",
        action=action,
        details=details or {},
        ip=_client_ip(request) if request is not None else None,
        user_agent=(request.META.get("HTTP_USER_AGENT", "")[:300] if request is not None else ""),
        request_id=(getattr(request, "request_id", "") if request is not None else ""),
        **fields,
    )
    schema = schema_name or current_schema_name()
    if schema != current_schema_name():
        with schema_context(schema):
            event = _append(event)
    else:
        event = _append(event)
    tenant_action_count(action=action, schema_name=schema)
    return event


def audit_event_record_in(schemas: Iterable[str], **fields: Any) -> list[AuditEvent]:
    """Append the same event to the audit chain of each of ``schemas``, in order (a change that concerns two
    workspaces, or a workspace and the platform, is kept in both chains); ``fields`` as :func:`audit_event_record`."""
    return [audit_event_record(**fields, schema_name=schema) for schema in schemas]


def audit_workspace_event(
    workspace: Any, *, action: str, actor: Any, request: HttpRequest | None, details: dict[str, Any]
) -> list[AuditEvent]:
    """An event about a workspace itself (suspension, deletion, quotas), in the platform's chain and the
    workspace's own."""
    return audit_event_record_in(
        ("public", workspace.schema_name),
        action=action,
        actor=actor,
        request=request,
        target=workspace,
        details=details,
    )


def audit_event_record_coalesced(*, coalesce_key: str, **fields: Any) -> AuditEvent | None:
    """Record an event of a kind an outsider can repeat at will (denied requests, refused sign-ins) at most once per
    ``coalesce_key`` per ``audit_coalesce_seconds`` in the current schema (or ``schema_name``), so the audit table
    cannot be flooded. Returns the event, or None when an identical one was recorded within the window."""
    schema = fields.get("schema_name") or current_schema_name()
    digest = hashlib.sha256(f"{schema}|{coalesce_key}".encode()).hexdigest()
    try:
        first = cache.add(f"audit-coalesce:{digest}", 1, timeout=config_get("audit_coalesce_seconds"))
    except Exception:  # without the cache, record every event rather than none
        logger.warning("audit coalescing unavailable (cache error); recording the event", exc_info=True)
        first = True
    if not first:
        return None
    return audit_event_record(**fields)


def audit_read_record(*, actor: Any, request: HttpRequest | None, what: str, filters: dict[str, Any]) -> AuditEvent:
    """Record that someone read the audit log (``audit.read``: list, page, user activity, history, CSV export)."""
    return audit_event_record(
        action="audit.read", actor=actor, request=request, details={"view": what, "filters": filters}
    )
