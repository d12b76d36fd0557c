"""Denied requests are audited: a signed-in caller (session or token) who gets 403 or 404 on a workspace host.

One place for every page and API endpoint, so no handler can forget it. A member can repeat a refused request at
will, so the events are coalesced: at most one ``access.denied`` per caller, route and status in each
``audit_coalesce_seconds`` window (the route is the URL pattern, so probing many ids of one endpoint is one event
per window, naming the first path tried).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from audit.services import audit_event_record_coalesced

logger = logging.getLogger(__name__)

DENIED_STATUSES = frozenset({403, 404})
SKIPPED_PREFIXES = ("/static/", "/favicon.ico")
PATH_MAX_CHARS = 200


def _error_code(response: HttpResponse) -> str:
    """The ``error.code`` of a JSON error response ('' for pages)."""
    if "json" not in response.get("Content-Type", "") or len(response.content) > 10_000:
        return ""
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code", ""))[:64] if isinstance(error, dict) else ""


class DeniedRequestAuditMiddleware:
    """Record 403/404 answers to authenticated callers on tenant hosts (``access.denied``, coalesced)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code in DENIED_STATUSES:
            self._record(request, response)
        return response

    def _record(self, request: HttpRequest, response: HttpResponse) -> None:
        tenant = getattr(request, "tenant", None)
        user = getattr(request, "user", None)
        if tenant is None or tenant.schema_name == "public" or not getattr(user, "is_authenticated", False):
            return
        if request.path.startswith(SKIPPED_PREFIXES):
            return
        match = getattr(request, "resolver_match", None)
        route = str(getattr(match, "route", "") or "(no such page)")
        try:
            audit_event_record_coalesced(
                coalesce_key=f"access.denied|{user.pk}|{request.method}|{route}|{response.status_code}",  # type: ignore[union-attr]
                action="access.denied",
                actor=user,
                request=request,
                details={
                    "status": response.status_code,
                    "code": _error_code(response),
                    "method": request.method,
                    "path": request.path[:PATH_MAX_CHARS],
                    "route": route[:PATH_MAX_CHARS],
                },
                schema_name=tenant.schema_name,
            )
        except DatabaseError:  # the refusal stands; a failing audit write must not turn it into a 500
            logger.exception("could not audit a denied request")
