"""The discovery catalog on the platform host: ``GET /api/v1/catalog`` (JSON, no sign-in), the catalog page, and
the "request access" path (sign up or sign in, then leave a request the workspace's stewards see)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_tenants.utils import tenant_context

from audit.services import audit_event_record
from core.errors import error_body
from core.pagination import MAX_PAGE, MAX_PAGE_SIZE
from datasets.models import Study
from harmonization.discovery import catalog_entry, catalog_search
from harmonization.models import AccessInquiry
from tenants.models import Tenant
from tenants.role_checks import membership_for

PURPOSE_MAX = 4000


def _page_args(request: HttpRequest) -> tuple[int, int] | None:
    try:
        page = int(request.GET.get("page", "1"))
        size = int(request.GET.get("page_size", "100"))
    except ValueError:
        return None
    if not (1 <= page <= MAX_PAGE and 1 <= size <= MAX_PAGE_SIZE):
        return None
    return page, size


@require_GET
def catalog_api(request: HttpRequest) -> JsonResponse:
    """``{"items": [...], "page", "page_size", "total"}``: discoverable studies matching ``q``."""
    paging = _page_args(request)
    if paging is None:
        body = error_body("invalid_input", f"page is 1..{MAX_PAGE} and page_size 1..{MAX_PAGE_SIZE}.", None)
        return JsonResponse(body, status=422)
    page, size = paging
    query = request.GET.get("q", "")[:200]
    entries = catalog_search(query)
    items = entries[(page - 1) * size : page * size]
    return JsonResponse({"items": items, "page": page, "page_size": size, "total": len(entries)})


@require_GET
def catalog_page(request: HttpRequest) -> HttpResponse:
    """The catalog: search discoverable studies; each links to its "request access" path."""
    query = request.GET.get("q", "")[:200]
    return render(request, "harmonization/catalog.html", {"entries": catalog_search(query), "q": query})


def _workspace_url(request: HttpRequest, tenant: Tenant, path: str) -> str:
    port = request.get_port()
    suffix = f":{port}" if port not in {"80", "443"} else ""
    return f"{request.scheme}://{tenant.primary_domain_name()}{suffix}{path}"


@require_http_methods(["GET", "POST"])
def request_access(request: HttpRequest, workspace: str, study: str) -> HttpResponse:
    """Sign up / sign in first; members go to the workspace's access request form; others leave a request."""
    entry = catalog_entry(workspace, study)
    if entry is None:
        raise Http404("No such study in the catalog.")
    here = request.get_full_path()
    context: dict[str, Any] = {"entry": entry}
    if not request.user.is_authenticated:
        context["signup_url"] = f"{reverse('account_signup')}?{urlencode({'next': here})}"
        context["login_url"] = f"{reverse('account_login')}?{urlencode({'next': here})}"
        return render(request, "harmonization/request_access.html", context)
    return _signed_in_request(request, workspace, study, context)


def _signed_in_request(request: HttpRequest, workspace: str, study: str, context: dict[str, Any]) -> HttpResponse:
    tenant = Tenant.objects.get(slug=workspace)
    user: Any = request.user
    if membership_for(user=user, tenant=tenant) is not None:
        context["member_url"] = _workspace_url(request, tenant, f"/access/request/{study}/")
        return render(request, "harmonization/request_access.html", context)
    if request.method == "POST":
        purpose = (request.POST.get("purpose") or "").strip()
        if not 3 <= len(purpose) <= PURPOSE_MAX:
            context["error"] = f"Describe your purpose in 3 to {PURPOSE_MAX} characters."
            return render(request, "harmonization/request_access.html", context, status=422)
        with tenant_context(tenant), transaction.atomic():
            target = Study.objects.get(slug=study, discoverable=True)
            inquiry = AccessInquiry.objects.create(study=target, requester=user, email=user.email, purpose=purpose)
            audit_event_record(
                action="discovery.access_requested",
                actor=user,
                target=inquiry,
                details={"study": study, "email": user.email, "purpose": purpose[:500]},
            )
        context["sent"] = True
    return render(request, "harmonization/request_access.html", context)
