"""The builder across studies (``/federated/``): pick studies, filter on variables, see the live total and the
per-study breakdown, run, follow the run and export it. Every number comes from the same services as the API."""

from __future__ import annotations

import math
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApiError, InvalidInput
from datasets.selectors import study_list_for_user
from harmonization.counting import federated_count
from harmonization.mapping import LIST_OPS, NULL_OPS
from harmonization.models import HarmonizedVariable
from harmonization.results import federated_row_count_for_user, federated_rows_for_user
from harmonization.runs import federated_run_create, federated_run_get_for_user
from harmonization.selectors import variable_list_for_user
from tenants.page_kit import page_errors, request_tenant, role_required
from tenants.roles import Role

FILTER_ROWS = 4
OPS = ["between", "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "is_null", "not_null"]
PREVIEW_ROWS = 50


def _value(kind: str, text: str) -> Any:
    text = text.strip()
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise InvalidInput(f"{text[:50]!r} is not a number.", code="invalid_value") from None
        if not math.isfinite(number):
            raise InvalidInput("Numbers must be finite.", code="invalid_value")
        return int(number) if number.is_integer() else number
    if kind == "boolean":
        return text.lower() in {"true", "yes", "1"}
    return text


def _payload(request: HttpRequest) -> dict[str, Any]:
    """The builder's form as a federated request (filters with empty variables are left out)."""
    kinds = {v.name: v.type for v in HarmonizedVariable.objects.all()}
    filters: list[dict[str, Any]] = []
    for index in range(FILTER_ROWS):
        name = request.POST.get(f"variable_{index}", "")
        op = request.POST.get(f"op_{index}", "")
        if not name or not op:
            continue
        raw = request.POST.get(f"value_{index}", "")
        item: dict[str, Any] = {"variable": name, "op": op}
        if op == "between" or op in LIST_OPS:
            item["value"] = [_value(kinds.get(name, "string"), part) for part in raw.split(",") if part.strip()]
        elif op not in NULL_OPS:
            item["value"] = _value(kinds.get(name, "string"), raw)
        filters.append(item)
    return {"studies": request.POST.getlist("studies"), "filters": filters}


@require_GET
@role_required(Role.ANALYST, "The builder across studies is for analysts, stewards and owners.")
@page_errors
def federated_builder(request: HttpRequest) -> HttpResponse:
    """The builder page."""
    tenant = request_tenant(request)
    context = {
        "studies": study_list_for_user(user=request.user, tenant=tenant),
        "variables": variable_list_for_user(user=request.user, tenant=tenant),
        "rows": range(FILTER_ROWS),
        "ops": OPS,
    }
    return render(request, "harmonization/builder.html", context)


@require_POST
@role_required(Role.ANALYST, "The builder across studies is for analysts, stewards and owners.")
def federated_builder_count(request: HttpRequest) -> HttpResponse:
    """The live total and per-study breakdown (a fragment)."""
    try:
        payload = _payload(request)
        if not payload["studies"]:
            return render(request, "harmonization/_count.html", {"empty": True})
        answer = federated_count(tenant=request_tenant(request), actor=request.user, payload=payload, request=request)
    except ApiError as exc:  # shown in place of the numbers (htmx swaps only successful answers)
        return render(request, "harmonization/_count.html", {"error": exc})
    return render(request, "harmonization/_count.html", {"answer": answer})


@require_POST
@role_required(Role.ANALYST, "The builder across studies is for analysts, stewards and owners.")
@page_errors
def federated_builder_run(request: HttpRequest) -> HttpResponse:
    """Queue the run and go to its page."""
    payload = {**_payload(request), "variables": request.POST.getlist("outputs")}
    run = federated_run_create(tenant=request_tenant(request), actor=request.user, payload=payload, request=request)
    return HttpResponseRedirect(reverse("federated_run_page", args=[run.pk]))


@require_GET
@role_required(Role.ANALYST, "Runs are for analysts, stewards and owners.")
@page_errors
def federated_run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    """A federated run: status, the studies' parts, the first rows, exports (polls while it is not finished)."""
    tenant = request_tenant(request)
    run = federated_run_get_for_user(user=request.user, tenant=tenant, run_id=run_id)
    context: dict[str, Any] = {
        "run": run,
        "parts": list(run.parts.select_related("run")),
        "row_count": federated_row_count_for_user(tenant=tenant, actor=request.user, run=run),
        "finished": run.status in {"succeeded", "failed", "cancelled"},
    }
    if run.status == "succeeded" and context["row_count"] is not None:
        context["preview"] = federated_rows_for_user(
            tenant=tenant, actor=request.user, run=run, page=1, page_size=PREVIEW_ROWS, request=request
        )
    return render(request, "harmonization/run.html", context)
