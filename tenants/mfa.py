"""Two-factor authentication state of a user (allauth MFA)."""

from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator


def user_has_totp(user: Any) -> bool:
    """True when the user has an active TOTP authenticator."""
    if not getattr(user, "is_authenticated", False):
        return False
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
