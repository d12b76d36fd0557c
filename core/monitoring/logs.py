"""Log context: every log line of a request (or Celery task) carries its request id, tenant and user.

The request middleware and the Celery task signals set a context variable; :class:`LogContextFilter` (installed on
the console handler by ``settings.LOGGING``) copies it onto each record, and the JSON formatter
(``pythonjsonlogger``) writes those attributes as fields. Context variables are per thread and per task, so
concurrent requests in threaded gunicorn workers never mix their context.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar, Token
from dataclasses import dataclass, replace
from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject, empty

#: The record attributes the filter sets (the JSON formatter lists them as fields).
CONTEXT_FIELDS = ("request_id", "tenant", "user", "task")


@dataclass(frozen=True)
class LogContext:
    """What the current request or task is about. ``request`` gives the user once authentication has run."""

    request_id: str = ""
    tenant: str = ""
    task: str = ""
    request: Any = None
    user: str = ""


_context: ContextVar[LogContext | None] = ContextVar("bdt_log_context", default=None)


def log_context_set(context: LogContext) -> Token[LogContext | None]:
    """Make ``context`` the current one; returns the token for :func:`log_context_reset`."""
    return _context.set(context)


def log_context_reset(token: Token[LogContext | None]) -> None:
    """Restore the context that was current before :func:`log_context_set`."""
    _context.reset(token)


def log_context_update(**fields: str) -> None:
    """Change fields of the current context (e.g. the tenant once it is resolved)."""
    current = _context.get()
    if current is not None:
        _context.set(replace(current, **fields))


def _user_of(request: Any) -> str:
    """The authenticated user's id, without triggering a session lookup that has not happened yet."""
    user = request.__dict__.get("user") if request is not None else None
    if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):
        return ""
    if not getattr(user, "is_authenticated", False):
        return ""
    return str(getattr(user, "pk", "") or "")


def tenant_label(tenant: Any) -> str:
    """The label of a tenant in logs and metrics: its slug, ``platform`` for the public schema."""
    if tenant is None:
        return ""
    if getattr(tenant, "schema_name", "") == "public":
        return "platform"
    return str(getattr(tenant, "slug", "") or getattr(tenant, "schema_name", ""))


class LogContextFilter(logging.Filter):
    """Adds ``request_id``, ``tenant``, ``user`` and ``task`` to every record (empty outside a request/task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        if context is None and isinstance(getattr(record, "request", None), HttpRequest):
            # Django logs a request's failure (django.request) after the middleware has finished.
            request = record.request  # type: ignore[attr-defined]
            context = LogContext(request_id=getattr(request, "request_id", ""), request=request)
        if context is None:
            values = dict.fromkeys(CONTEXT_FIELDS, "")
        else:
            tenant = context.tenant
            if not tenant and context.request is not None:
                tenant = tenant_label(getattr(context.request, "tenant", None))
            values = {
                "request_id": context.request_id,
                "tenant": tenant,
                "user": context.user or _user_of(context.request),
                "task": context.task,
            }
        for name, value in values.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True
