"""Template context: the signed-in member's unread notification count (for the badge in the top bar)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def notifications_context(request: HttpRequest) -> dict[str, Any]:
    """Expose ``unread_notifications`` (lazily: only pages that show the badge query it)."""

    def unread() -> int:
        from approvals.selectors import notification_unread_count

        if getattr(request, "membership", None) is None:
            return 0
        return notification_unread_count(user=request.user)

    return {"unread_notifications": unread}
