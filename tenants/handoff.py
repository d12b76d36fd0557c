"""Signing in on a workspace host from the platform host in one step (sessions are per host).

The platform host makes a single-use ticket (random, 60 s, bound to the person and the workspace host) and sends the
browser to ``<workspace host>/accounts/handoff/<ticket>/``, which signs the same person in there. A ticket that was
used, expired, or is presented on another host signs nobody in."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.cache import cache

from tenants.models import User

TICKET_SECONDS = 60
_PREFIX = "bdt-platform:handoff:"  # platform-wide cache namespace (core/cache_keys.py)


def handoff_ticket_create(*, user: User, host: str) -> str:
    """A ticket for ``user`` to be signed in at ``host``."""
    ticket = secrets.token_urlsafe(32)
    cache.set(_PREFIX + ticket, {"user": user.pk, "host": host.lower()}, TICKET_SECONDS)
    return ticket


def handoff_ticket_redeem(*, ticket: str, host: str) -> User | None:
    """The person of a valid ticket for ``host`` (the ticket is used up either way), else None."""
    if not ticket or len(ticket) > 100:
        return None
    key = _PREFIX + ticket
    data: Any = cache.get(key)
    if not cache.delete(key):  # already used (a concurrent request deleted it first) or expired
        return None
    if not isinstance(data, dict) or data.get("host") != host.lower():
        return None
    user_id = data.get("user")
    if not isinstance(user_id, int):
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()
