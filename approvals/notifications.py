"""In-app notifications, each also sent by e-mail once the surrounding transaction commits."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from approvals.models import Notification
from core.errors import NotFound
from tenants.models import Membership, Tenant
from tenants.roles import Role


def _absolute(link: str, tenant: Tenant, request: HttpRequest | None) -> str:
    if not link:
        return ""
    if request is not None:
        return request.build_absolute_uri(link)
    return f"https://{tenant.primary_domain_name()}{link}"


def notification_send(
    *,
    tenant: Tenant,
    users: Iterable[Any],
    kind: str,
    text: str,
    link: str = "",
    request: HttpRequest | None = None,
) -> list[Notification]:
    """Create an in-app notification for each user and e-mail it to them after commit."""
    created = []
    for user in users:
        created.append(Notification.objects.create(user=user, kind=kind, text=text[:500], link=link))
        address = user.email
        url = _absolute(link, tenant, request)
        body = f"{text}\n\n{url}\n" if url else f"{text}\n"
        transaction.on_commit(
            partial(send_mail, f"[{tenant.name}] {text[:120]}", body, None, [address], fail_silently=True)
        )
    return created


def stewards_of(tenant: Tenant) -> list[Any]:
    """The tenant's stewards and owners (who decide access requests)."""
    return [
        m.user
        for m in Membership.objects.filter(tenant=tenant, role__in=[Role.OWNER, Role.STEWARD]).select_related("user")
    ]


def notification_mark_read(*, user: Any, notification_id: int | None = None) -> int:
    """Mark one of the user's notifications (or all of them, when no id is given) as read; returns how many."""
    queryset = Notification.objects.filter(user_id=user.pk, read_at__isnull=True)
    if notification_id is not None:
        if not Notification.objects.filter(user_id=user.pk, pk=notification_id).exists():
            raise NotFound("No such notification.")
        queryset = queryset.filter(pk=notification_id)
    return queryset.update(read_at=timezone.now())


def request_notifications_settle(*, request_id: int) -> int:
    """Once a request is decided or withdrawn, the stewards' "new request" notices about it are read: nothing is
    left for them to do. Returns how many were marked."""
    return Notification.objects.filter(
        kind="access_request.created",
        read_at__isnull=True,
        text__regex=rf"\((request|renewal) #{int(request_id)}\)\.$",
    ).update(read_at=timezone.now())
