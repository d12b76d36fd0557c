"""What every console page shares: the steward-only decorator, form parsing, flash messages and redirects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from core.errors import ApiError, InvalidInput, NotFound
from tenants.models import User
from tenants.page_kit import role_required
from tenants.roles import Role
from tenants.selectors import membership_get_by_email

View = Callable[..., HttpResponse]


#: Console pages are for stewards and owners; everyone else gets the 403 page.
steward_required = role_required(Role.STEWARD, "The console is for stewards and owners.")


def parse_expiry(raw: str) -> datetime | None:
    """A form's expiry (``YYYY-MM-DDTHH:MM`` or a date = end of that day), in the site's time zone; blank = none."""
    raw = (raw or "").strip()
    if not raw:
        return None
    moment = parse_datetime(raw)
    if moment is None:
        day = parse_date(raw)
        if day is None:
            raise InvalidInput("The expiry is not a valid date or time.", code="invalid_expiry")
        moment = datetime(day.year, day.month, day.day, 23, 59, 59)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def flash_run(request: HttpRequest, action: Callable[[], Any], success: str) -> bool:
    """Run a service call; report its error or ``success`` as a flash message."""
    try:
        action()
    except ApiError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, success)
    return True


def redirect_back(request: HttpRequest, fallback: str) -> HttpResponse:
    """Back to the posted ``next`` console page (only /console/ paths: no open redirect), else ``fallback``."""
    target = request.POST.get("next", "")
    return redirect(target if target.startswith("/console/") else fallback)


def request_actor(request: HttpRequest) -> User:
    """The signed-in member making the request."""
    return cast(User, request.user)  # console views run for signed-in members only (steward_required)


def member_user(tenant: Any, email: str) -> User:
    """The member of ``tenant`` with ``email``, or 404 (unknown addresses and non-members alike)."""
    found = membership_get_by_email(tenant=tenant, email=email)
    if found is None:
        raise NotFound("No such member.")
    return found.user


# --- Overview and requests -------------------------------------------------------------------------------------


def member_or_none(tenant: Any, email: str) -> User | None:
    """The member of ``tenant`` with ``email`` (None when there is none; the pages say so)."""
    found = membership_get_by_email(tenant=tenant, email=email, verified_only=False) if email else None
    return found.user if found is not None else None
