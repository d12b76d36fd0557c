"""What the study pages share: the study lookup, the steward check, and their error handling (the page kit's, with
the upload row's error fragment for script requests: uploads are the study pages' XHR clients)."""

from __future__ import annotations

from django.http import HttpRequest

from datasets.models import Study
from datasets.selectors import study_get_for_user
from tenants.page_kit import page_errors_with, request_tenant
from tenants.role_checks import role_require
from tenants.roles import Role

#: Service errors as pages, or as the upload row's error fragment for htmx/XHR requests.
page_errors = page_errors_with("datasets/_upload_error.html")


def _study(request: HttpRequest, slug: str) -> Study:
    return study_get_for_user(user=request.user, tenant=request_tenant(request), slug=slug)


def _require_steward(request: HttpRequest, action: str) -> None:
    role_require(user=request.user, tenant=request_tenant(request), minimum=Role.STEWARD, action=action)
