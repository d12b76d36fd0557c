"""allauth adapter: sign-up governed by the platform's feature flag."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.http import HttpRequest

from bdt_project.config import config_get


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
