"""Shared helpers of the pages: tenant and study lookup, role checks, and service errors as pages or fragments."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import ApiError, Forbidden, NotFound
from datasets.models import Study
from datasets.selectors import study_get_for_user
from tenants.role_checks import role_require
from tenants.roles import Role, role_at_least

View = Callable[..., HttpResponse]


def _tenant(request: HttpRequest) -> Any:
    return request.tenant  # type: ignore[attr-defined]


def _can_manage(request: HttpRequest) -> bool:
    """Steward or above: may create studies, upload data and edit metadata."""
    membership = getattr(request, "membership", None)
    return membership is not None and role_at_least(membership.role, Role.STEWARD)


def _is_fragment(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False)) or request.headers.get("X-Requested-With") == "XMLHttpRequest"


def _error_response(request: HttpRequest, exc: ApiError) -> HttpResponse:
    """A service error as a page (or a fragment for htmx/XHR requests)."""
    if _is_fragment(request):
        return render(request, "datasets/_error.html", {"error": exc}, status=exc.status)
    if isinstance(exc, NotFound):
        return render(request, "404.html", status=404)
    if isinstance(exc, Forbidden):
        return render(request, "datasets/forbidden.html", {"error": exc}, status=403)
    return render(request, "datasets/error.html", {"error": exc}, status=exc.status)


def page_errors(view: View) -> View:
    """Turn :class:`ApiError` raised by selectors/services into 404/403/4xx pages."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ApiError as exc:
            return _error_response(request, exc)

    return wrapper


def _study(request: HttpRequest, slug: str) -> Study:
    return study_get_for_user(user=request.user, tenant=_tenant(request), slug=slug)


def _require_steward(request: HttpRequest, action: str) -> None:
    role_require(user=request.user, tenant=_tenant(request), minimum=Role.STEWARD, action=action)
