"""Model fields shared by the apps."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


def user_reference(
    *, optional: bool = True, related_name: str | None = "+", **kwargs: Any
) -> models.ForeignKey[Any, Any]:
    """A reference to a global user (public schema) from a row that may live in a tenant schema.

    No database constraint (the user table lives in another schema) and nothing happens to the row when the user
    goes: who did what stays recorded. ``optional`` rows may have no user (system actions).
    """
    if optional:
        kwargs.update(null=True, blank=True)
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name=related_name,
        **kwargs,
    )
