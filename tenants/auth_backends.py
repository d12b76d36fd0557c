"""Sign-in by e-mail and password, counting only verified addresses."""

from __future__ import annotations

from typing import Any

from allauth.account.auth_backends import AuthenticationBackend
from allauth.account.models import EmailAddress

from tenants.models import User


class VerifiedEmailBackend(AuthenticationBackend):
    """allauth's backend, but an address finds an account only when that account verified it.

    Accounts the platform made without any allauth record of their address (``createsuperuser``, the admin) are
    found by their sign-in address, as Django's own backend would; they are operator-made, and allauth's mandatory
    verification still asks them to confirm the address before a browser sign-in completes."""

    def _authenticate_by_email(self, email: str, password: str) -> Any:
        address = (email or "").strip().lower()
        if not address:
            return None
        candidates = [
            row.user for row in EmailAddress.objects.filter(email__iexact=address, verified=True).select_related("user")
        ]
        if not candidates:
            candidates = list(User.objects.filter(email__iexact=address).exclude(emailaddress__email__iexact=address))
        for user in candidates:
            if self._check_password(user, password):
                return user
        return None
