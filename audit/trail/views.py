"""Steward pages of the audit trail: the filtered log (+ CSV), one member's activity, and 'what changed'.

Every page reads through ``audit.trail.selectors`` (stewards and owners only) and records its own ``audit.read`` event.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_GET

from audit.services import audit_read_record
from audit.trail.csv_export import audit_csv_lines
from audit.trail.history import KINDS, configuration_history
from audit.trail.selectors import AuditFilters, audit_actions, audit_events_filter, audit_events_for_user
from core.errors import InvalidInput, NotFound
from tenants.models import Membership, User
from tenants.page_kit import page_errors, request_tenant
from tenants.role_checks import role_require
from tenants.roles import Role

PAGE_SIZE = 50
FILTER_FIELDS = ("action", "actor", "study", "dataset", "since", "until")


def _moment(raw: str, label: str, *, end: bool = False) -> datetime | None:
    """A date (``YYYY-MM-DD``: the whole day) or date-time from a filter form; 422 with a clear message if neither."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        moment = parse_datetime(raw)
        if moment is None:
            day = parse_date(raw)
            if day is None:
                raise ValueError(raw)
            moment = datetime.combine(day, time.max if end else time.min)
    except ValueError as exc:
        raise InvalidInput(f"{label} must be a date (YYYY-MM-DD) or a date and time.", code="invalid_date") from exc
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def filters_from_request(request: HttpRequest) -> AuditFilters:
    """The filters of the audit page's form (query string)."""
    text = {key: (request.GET.get(key) or "").strip()[:254] for key in FILTER_FIELDS}
    return AuditFilters(
        action=text["action"] or None,
        actor=text["actor"] or None,
        study=text["study"] or None,
        dataset=text["dataset"] or None,
        since=_moment(text["since"], "From"),
        until=_moment(text["until"], "Until", end=True),
    )


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@require_GET
@page_errors
def audit_log_view(request: HttpRequest) -> HttpResponse:
    """The audit log with filters (actor, action, study, dataset, time), 50 events a page, and a CSV link."""
    role_require(user=request.user, tenant=request_tenant(request), minimum=Role.STEWARD, action="read the audit log")
    context: dict[str, Any] = {"values": {key: request.GET.get(key, "") for key in FILTER_FIELDS}}
    status = 200
    try:
        filters = filters_from_request(request)
    except InvalidInput as exc:
        context["error"] = exc.message
        filters, status = AuditFilters(), 422
    events = audit_events_for_user(user=request.user, tenant=request_tenant(request), filters=filters)
    audit_read_record(actor=request.user, request=request, what="page", filters=filters.as_details())
    context["page"] = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    context["query"] = _query_without_page(request)
    context["action_groups"] = _action_groups(context["values"]["action"])
    return render(request, "audit/log.html", context, status=status)


def _action_groups(chosen: str) -> list[tuple[str, list[str]]]:
    """The actions recorded in this workspace (and the one asked for), grouped by their prefix."""
    actions = set(audit_actions())
    if chosen and not chosen.endswith("."):
        actions.add(chosen)
    groups: dict[str, list[str]] = {}
    for action in sorted(actions):
        groups.setdefault(action.split(".", 1)[0], []).append(action)
    if chosen.endswith(".") and chosen[:-1] not in groups:
        groups[chosen[:-1]] = []
    return sorted(groups.items())


@require_GET
@page_errors
def audit_export_view(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered log as CSV (formula-safe); the download is itself audited."""
    filters = filters_from_request(request)
    events = audit_events_for_user(user=request.user, tenant=request_tenant(request), filters=filters)
    audit_read_record(actor=request.user, request=request, what="csv", filters=filters.as_details())
    response = StreamingHttpResponse(audit_csv_lines(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response


@require_GET
@page_errors
def audit_user_view(request: HttpRequest, user_id: int) -> HttpResponse:
    """Everything one person did in this workspace: actions by kind, then the events, newest first."""
    role_require(user=request.user, tenant=request_tenant(request), minimum=Role.STEWARD, action="read the audit log")
    person = User.objects.filter(pk=user_id).first()
    events = audit_events_filter(AuditFilters()).filter(actor_id=user_id)
    if person is None or not (
        Membership.objects.filter(tenant=request_tenant(request), user=person).exists() or events.exists()
    ):
        raise NotFound("No such member.")
    audit_read_record(actor=request.user, request=request, what="user", filters={"user": person.email})
    summary = list(events.order_by().values("action").annotate(n=Count("id")).order_by("-n", "action"))
    context = {
        "person": person,
        "member_role": Membership.objects.filter(tenant=request_tenant(request), user=person)
        .values_list("role", flat=True)
        .first(),
        "summary": summary,
        "page": Paginator(events, PAGE_SIZE).get_page(request.GET.get("page")),
    }
    return render(request, "audit/user.html", context)


@require_GET
@page_errors
def audit_history_view(request: HttpRequest) -> HttpResponse:
    """'What changed': configuration history (studies, datasets, memberships, settings, grants) as readable diffs."""
    role_require(user=request.user, tenant=request_tenant(request), minimum=Role.STEWARD, action="read the audit log")
    kind = request.GET.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}.", code="invalid_kind")
    audit_read_record(actor=request.user, request=request, what="history", filters={"kind": kind})
    items = configuration_history(tenant=request_tenant(request), kind=kind)
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "audit/history.html", {"page": page, "kind": kind, "kinds": KINDS})
