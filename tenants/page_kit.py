"""The page kit: what every HTML page of a workspace uses — the request's tenant, fragment detection, role checks
as decorators, and service errors (:class:`core.errors.ApiError`) turned into pages or fragments.

Error templates live in ``templates/errors/``: the status pages (``404.html``, ``403.html`` ...), ``problem.html``
for any other refused action, and ``_alert.html``, the fragment shown in place of what an htmx request replaced.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from core.errors import ApiError, Forbidden, NotFound
from tenants.models import Membership, Tenant
from tenants.role_checks import role_require
from tenants.roles import Role, role_at_least

View = Callable[..., HttpResponseBase]

ALERT_FRAGMENT = "errors/_alert.html"


def request_tenant(request: HttpRequest) -> Tenant:
    """The workspace the request is served for (set by the tenant middleware from the host)."""
    return request.tenant  # type: ignore[attr-defined,no-any-return]


def is_fragment(request: HttpRequest) -> bool:
    """True for htmx and script (XHR) requests: they get a fragment, never a whole page."""
    return bool(getattr(request, "htmx", False)) or request.headers.get("X-Requested-With") == "XMLHttpRequest"


def error_response(request: HttpRequest, exc: ApiError, *, fragment: str = ALERT_FRAGMENT) -> HttpResponse:
    """A service error as a page: 404, 403 with the reason, or the problem page; ``fragment`` for htmx/XHR."""
    if is_fragment(request):
        return render(request, fragment, {"error": exc}, status=exc.status)
    if isinstance(exc, NotFound):
        return render(request, "errors/404.html", status=404)
    if isinstance(exc, Forbidden):
        return render(request, "errors/403.html", {"error": exc}, status=403)
    return render(request, "errors/problem.html", {"error": exc}, status=exc.status)


def page_errors_with(fragment: str) -> Callable[[View], View]:
    """:func:`page_errors` whose htmx/XHR answer is ``fragment`` (rendered with ``error``)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                return view(request, *args, **kwargs)
            except ApiError as exc:
                return error_response(request, exc, fragment=fragment)

        return wrapper

    return decorate


#: Turn :class:`ApiError` raised by selectors and services into 404/403/4xx pages (or the alert fragment).
page_errors = page_errors_with(ALERT_FRAGMENT)


def role_require_for(request: HttpRequest, minimum: str, action: str) -> Membership:
    """The caller's membership if their role is at least ``minimum`` (404 for non-members, 403 with the reason)."""
    return role_require(user=request.user, tenant=request_tenant(request), minimum=minimum, action=action)


def role_required(minimum: str, message: str) -> Callable[[View], View]:
    """Decorator: the view runs only for members with at least ``minimum`` (the membership the tenant middleware put
    on the request); everyone else gets the 403 page saying ``message``."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            membership = getattr(request, "membership", None)
            if membership is None or not role_at_least(membership.role, minimum):
                return render(request, "errors/403.html", {"message": message}, status=403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def can_manage(request: HttpRequest) -> bool:
    """Steward or above (the membership the tenant middleware put on the request)."""
    membership = getattr(request, "membership", None)
    return membership is not None and role_at_least(membership.role, Role.STEWARD)
