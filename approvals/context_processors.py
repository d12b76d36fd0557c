"""Template context: the signed-in member's unread notifications and, for stewards, pending access requests."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def notifications_context(request: HttpRequest) -> dict[str, Any]:
    """Expose ``unread_notifications``, ``pending_access_requests`` and ``my_open_requests`` (lazily: only pages
    showing them query)."""

    def unread() -> int:
        from approvals.selectors import notification_unread_count

        if getattr(request, "membership", None) is None:
            return 0
        return notification_unread_count(user=request.user)

    def pending() -> int:
        from approvals.selectors import access_request_pending_count

        return access_request_pending_count(membership=getattr(request, "membership", None))

    def mine() -> int:
        from approvals.selectors import access_request_open_count

        if getattr(request, "membership", None) is None:
            return 0
        return access_request_open_count(user=request.user)

    return {"unread_notifications": unread, "pending_access_requests": pending, "my_open_requests": mine}
