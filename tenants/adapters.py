"""allauth adapter: sign-up governed by the platform's feature flag, invitations as proof of an address, and sign-in
lockout per account across the whole platform (with the refusals audited)."""

from __future__ import annotations

import hashlib
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django import forms
from django.http import HttpRequest

from audit.services import audit_event_record_coalesced
from core.config import config_get


def invited_address(request: HttpRequest | None) -> str | None:
    """The address of the pending invitation whose link this (signed-out) browser opened, if any."""
    from tenants.members import invitation_in_session

    if request is None or getattr(getattr(request, "user", None), "is_authenticated", False):
        return None
    invitation = invitation_in_session(request)
    return invitation.email.strip().lower() if invitation is not None else None


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up is open when ``self_signup_allowed`` is on, or for a person who opened a valid invitation link."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        from tenants.members import invitation_in_session

        return bool(config_get("self_signup_allowed")) or invitation_in_session(request) is not None

    def clean_email(self, email: str) -> str:
        """When sign-up is open only because of an invitation link, the account must use the invited address
        (otherwise anyone holding a link could create accounts while self sign-up is off)."""
        from tenants.members import invitation_in_session

        email = super().clean_email(email)
        request = getattr(self, "request", None)
        if request is None or getattr(request.user, "is_authenticated", False) or config_get("self_signup_allowed"):
            return email
        invitation = invitation_in_session(request)
        if invitation is not None and invitation.email.lower() != email.strip().lower():
            raise forms.ValidationError("Sign up with the address the invitation was sent to.")
        return email

    def is_email_verified(self, request: HttpRequest, email: str) -> bool:
        """An address is verified at sign-up when the browser opened an invitation link mailed to it."""
        invited = invited_address(request)
        if invited is not None and invited == (email or "").strip().lower():
            return True
        return bool(super().is_email_verified(request, email))

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        """allauth's mail, also when sent from an on-commit hook that runs after its request finished (security
        notifications such as "your address changed" read the request from a context variable by then empty)."""
        if allauth_context.request is None and self.request is not None:
            with allauth_context.request_context(self.request):
                super().send_mail(template_prefix, email, context)
            return
        super().send_mail(template_prefix, email, context)

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        """One failed-login counter per account for the whole platform (allauth keys it per host by default)."""
        login = str(credentials.get("email", credentials.get("username", "")) or "")
        return login.strip().lower()

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        """allauth's failed-login limits; a refused attempt is audited (once per account and host per window)."""
        try:
            super().pre_authenticate(request, **credentials)
        except forms.ValidationError:
            login = self._get_login_attempts_cache_key(request, **credentials)
            audit_event_record_coalesced(
                coalesce_key=f"auth.login_locked|{hashlib.sha256(login.encode()).hexdigest()}",
                action="auth.login_locked",
                request=request,
                details={
                    "email": login[:254],
                    "limit": str(config_get("login_failed_rate_limit")),
                    "note": "sign-in refused: too many failed attempts for this account or address",
                },
            )
            raise
