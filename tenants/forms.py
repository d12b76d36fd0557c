"""allauth forms with the platform's identity rules."""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from allauth.account.forms import ResetPasswordForm, SignupForm

from tenants.adapters import invited_address
from tenants.emails import email_claims_release, email_unverified_claim, email_verified_user


class VerifiedResetPasswordForm(ResetPasswordForm):
    """Password reset mails go only to an address its account has verified.

    allauth falls back to unverified addresses when no account verified the address; a reset link sent there would
    hand the account to whoever controls an address its holder never proved (a typo, a pending change, a planted
    address). Unknown and unverified addresses get the same answer as known ones (no enumeration), and no mail."""

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].lower()
        email = get_adapter().clean_email(email)
        user = email_verified_user(email)
        self.users = [user] if user is not None and user.is_active else []
        return self.cleaned_data["email"]


class InvitationSignupForm(SignupForm):
    """Sign-up; through an invitation link, the invited address is proven (the link was mailed there).

    So unverified claims other accounts made on that address are dropped before allauth checks it is free: a claim
    nobody proved never blocks the real owner from joining (docs/permissions.md, "Identity")."""

    def validate_unique_email(self, value: str) -> str:
        request = getattr(get_adapter(), "request", None)
        invited = invited_address(request)
        if invited is not None and invited == value.strip().lower() and email_unverified_claim(invited):
            email_claims_release(address=invited, request=request, reason="invitation_signup")
        return str(super().validate_unique_email(value))
