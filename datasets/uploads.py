"""Upload size limits enforced while the request body streams in (never after the whole file is read)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse

from core.config import config_get


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops reading an upload as soon as it passes the tenant's limit and marks the request as too large."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def _too_large(self) -> None:
        self.request.upload_too_large = True  # type: ignore[union-attr]
        raise StopUpload(connection_reset=False)

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],  # noqa: N803 - Django's signature
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        if content_length and content_length > self.limit + 1024 * 1024:  # allow for the multipart envelope
            self._too_large()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self._too_large()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


class UploadLimitMiddleware:
    """Installs :class:`SizeLimitUploadHandler` (with the tenant's ``upload_max_bytes``) on multipart requests."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.upload_too_large = False  # type: ignore[attr-defined]
        tenant = getattr(request, "tenant", None)
        if request.method == "POST" and request.content_type == "multipart/form-data" and tenant is not None:
            limit = int(config_get("upload_max_bytes", tenant))
            request.upload_handlers.insert(0, SizeLimitUploadHandler(request, limit))
        return self.get_response(request)
