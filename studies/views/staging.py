"""Wizard staging: the demographics file waits in storage (named in the session) until its key columns are confirmed."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.http import HttpRequest

from datasets.ingest import delimiter_from_name
from datasets.models import Study
from datasets.storage import setup_upload_prefix, storage_delete
from studies.preview import CsvPreview, csv_preview
from tenants.page_kit import request_tenant


def _staged_key(request: HttpRequest, study: Study) -> str:
    return f"bdt.setup.{request_tenant(request).schema_name}.{study.pk}"


def _staged_get(request: HttpRequest, study: Study) -> dict[str, Any] | None:
    staged = request.session.get(_staged_key(request, study))
    if not isinstance(staged, dict) or not staged.get("name"):
        return None
    if not str(staged["name"]).startswith(setup_upload_prefix(study.pk)) or not default_storage.exists(staged["name"]):
        request.session.pop(_staged_key(request, study), None)
        return None
    return staged


def _staged_discard(request: HttpRequest, study: Study) -> None:
    staged = request.session.pop(_staged_key(request, study), None)
    if isinstance(staged, dict) and str(staged.get("name", "")).startswith(setup_upload_prefix(study.pk)):
        storage_delete([staged["name"]])


def _staged_preview(staged: dict[str, Any]) -> CsvPreview:
    with default_storage.open(staged["name"], "rb") as handle:
        return csv_preview(
            handle, encoding=staged.get("encoding") or None, delimiter=delimiter_from_name(staged.get("delimiter"))
        )
