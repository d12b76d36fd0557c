"""The workspace home: who you are here, your studies, and where to start."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from datasets.models import Study
from tenants.models import Membership


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The workspace home: who you are here, what you can do, and where to start."""
    members = Membership.objects.filter(tenant=request.tenant).count()  # type: ignore[attr-defined]
    studies = list(Study.objects.order_by("name")[:10])
    return render(request, "tenants/home.html", {"member_count": members, "studies": studies})
