"""The platform's pagination contract: ``?page=&page_size=`` -> ``{items, page, page_size, total}``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Schema
from ninja.pagination import PaginationBase

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
# Beyond any real list (a billion items at the largest page size), and small enough that the row offset always fits
# the database's 64-bit integers: a larger page number is invalid input (422), not a database error.
MAX_PAGE = 1_000_000


class PagePagination(PaginationBase):
    """Page-number pagination with the total count; page_size is 1..1000 (default 100)."""

    class Input(Schema):
        page: int = Field(1, ge=1, le=MAX_PAGE)
        page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    class Output(Schema):
        items: list[Any]
        page: int
        page_size: int
        total: int

    items_attribute = "items"

    def paginate_queryset(
        self, queryset: QuerySet[Any], pagination: Input, request: HttpRequest, **params: Any
    ) -> dict[str, Any]:
        offset = (pagination.page - 1) * pagination.page_size
        return {
            "items": list(queryset[offset : offset + pagination.page_size]),
            "page": pagination.page,
            "page_size": pagination.page_size,
            "total": self._items_count(queryset),
        }
