"""Requester pages: request access to datasets of a study, follow my requests (withdraw, renew), notifications."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.selectors import datasets_levels_for_user
from approvals.notifications import notification_mark_read
from approvals.selectors import (
    access_request_demographics_gap,
    access_request_get_for_user,
    access_request_list_for_user,
    notification_list_for_user,
)
from approvals.services import (
    REQUESTABLE_LEVELS,
    access_request_create,
    access_request_renew,
    access_request_withdraw,
    dua_current,
)
from core.errors import ApiError
from datasets.models import Dataset
from datasets.selectors import study_get_for_user


@require_http_methods(["GET", "POST"])
def access_request_new(request: HttpRequest, slug: str) -> HttpResponse:
    """The "Request access" form of a study: datasets, level, purpose, and the study's terms to accept."""
    tenant = request.tenant  # type: ignore[attr-defined]
    try:
        study = study_get_for_user(user=request.user, tenant=tenant, slug=slug)
    except ApiError:
        return render(request, "errors/404.html", status=404)
    datasets = list(Dataset.objects.filter(study=study).order_by("kind", "name"))
    levels = datasets_levels_for_user(user=request.user, tenant=tenant, study=study)
    dua = dua_current(study=study)
    posted = request.method == "POST"
    selected = request.POST.getlist("datasets") if posted else request.GET.getlist("dataset")
    form = {
        "datasets": selected,
        "level": request.POST.get("level", "query") if posted else request.GET.get("level", "query"),
        "purpose": request.POST.get("purpose", ""),
        "include_demographics": request.POST.get("include_demographics") == "on" if posted else True,
    }
    error, status = "", 200
    if request.method == "POST":
        try:
            created = access_request_create(
                tenant=tenant,
                actor=request.user,
                study=study,
                datasets=selected,
                level=form["level"],  # type: ignore[arg-type]
                purpose=form["purpose"],  # type: ignore[arg-type]
                accept_terms=request.POST.get("accept_terms") == "on",
                include_demographics=bool(form["include_demographics"]),
                request=request,
            )
        except ApiError as exc:
            error, status = exc.message, exc.status
        else:
            demographics = study.demographics
            added = demographics is not None and demographics.name not in selected
            added = added and any(d.pk == study.demographics_id for d in created.datasets.all())
            note = f" The demographics table {demographics.name} was included." if added else ""  # type: ignore[union-attr]
            messages.success(request, f"Request #{created.pk} sent. Stewards were notified.{note}")
            return redirect("my_access_requests")
    rows = [{"dataset": d, "level": levels.get(d.name), "checked": d.name in selected} for d in datasets]
    return render(
        request,
        "approvals/request_new.html",
        {
            "study": study,
            "rows": rows,
            "dua": dua,
            "form": form,
            "levels": [level.value for level in REQUESTABLE_LEVELS],
            "error": error,
        },
        status=status,
    )


@require_GET
def my_access_requests(request: HttpRequest) -> HttpResponse:
    """The caller's own requests with their status, grants and expiry."""
    tenant = request.tenant  # type: ignore[attr-defined]
    items = list(access_request_list_for_user(user=request.user, tenant=tenant, mine=True)[:200])
    for item in items:
        item.demographics_gap = (  # type: ignore[attr-defined]
            access_request_demographics_gap(tenant=tenant, access_request=item)
            if item.effective_status in ("pending", "approved")
            else None
        )
    return render(request, "approvals/my_requests.html", {"items": items})


@require_POST
def my_access_request_action(request: HttpRequest, request_id: int) -> HttpResponse:
    """Withdraw a pending request (``action=withdraw``) or renew an approved one (``action=renew``)."""
    tenant = request.tenant  # type: ignore[attr-defined]
    action = request.POST.get("action", "")
    try:
        found = access_request_get_for_user(user=request.user, tenant=tenant, request_id=request_id)
        if action == "withdraw":
            access_request_withdraw(tenant=tenant, actor=request.user, access_request=found, request=request)
            messages.success(request, f"Request #{request_id} withdrawn.")
        elif action == "renew":
            renewal = access_request_renew(
                tenant=tenant,
                actor=request.user,
                access_request=found,
                accept_terms=request.POST.get("accept_terms") == "on",
                request=request,
            )
            messages.success(request, f"Renewal request #{renewal.pk} sent.")
        else:
            messages.error(request, "Unknown action.")
    except ApiError as exc:
        messages.error(request, exc.message)
    return redirect("my_access_requests")


@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    """The caller's notifications in this workspace (newest first)."""
    items = list(notification_list_for_user(user=request.user)[:100])
    return render(request, "approvals/notifications.html", {"items": items})


@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    """Mark every notification as read."""
    notification_mark_read(user=request.user)
    return redirect("notifications")
