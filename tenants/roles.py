"""Tenant roles and what each may do at the platform level (dataset levels come with governance)."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    """A member's role in one tenant, from most to least powerful."""

    OWNER = "owner", "Owner"
    STEWARD = "steward", "Steward"
    ANALYST = "analyst", "Analyst"
    VIEWER = "viewer", "Viewer"


ROLE_RANK: dict[str, int] = {Role.OWNER: 4, Role.STEWARD: 3, Role.ANALYST: 2, Role.VIEWER: 1}


def role_at_least(role: str | None, minimum: str) -> bool:
    """True when ``role`` is ``minimum`` or above it."""
    if role is None:
        return False
    return ROLE_RANK.get(role, 0) >= ROLE_RANK[minimum]
