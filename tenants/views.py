"""Pages: the user's settings (tokens, security), invitations, the e-mail page."""

from __future__ import annotations

from typing import Any

from allauth.account.views import EmailView
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import audit_event_record_coalesced
from core.config import config_get
from core.errors import ApiError
from tenants.members import SESSION_INVITATION_KEY, invitation_accept, invitation_pending_get
from tenants.mfa import user_has_totp
from tenants.selectors import api_token_get_for_user, api_token_list_for_user
from tenants.token_scopes import TokenScope
from tenants.tokens import api_token_create, api_token_revoke


def _settings_context(request: HttpRequest) -> dict[str, object]:
    tenant = request.tenant  # type: ignore[attr-defined]
    return {
        "tokens": api_token_list_for_user(user=request.user, tenant=tenant),  # type: ignore[arg-type]
        "has_totp": user_has_totp(request.user),
        "mfa_required": config_get("mfa_required", tenant),
        "default_expiry_days": config_get("token_default_expiry_days", tenant),
        "max_expiry_days": config_get("token_max_expiry_days", tenant),
        "token_scopes": TokenScope.choices,
    }


@login_required
@require_GET
def account_settings(request: HttpRequest) -> HttpResponse:
    """The user's settings in this workspace: security (password, two-factor) and API tokens."""
    return render(request, "tenants/settings.html", _settings_context(request))


@login_required
@require_POST
def token_create_view(request: HttpRequest) -> HttpResponse:
    """Create a token (htmx); the secret is rendered once in the response and never again."""
    context = _settings_context(request)
    try:
        days_raw = request.POST.get("expires_days", "").strip()
        created = api_token_create(
            user=request.user,  # type: ignore[arg-type]
            tenant=request.tenant,  # type: ignore[attr-defined]
            name=request.POST.get("name", ""),
            expires_days=int(days_raw) if days_raw else None,
            scope=request.POST.get("scope") or TokenScope.FULL,
            request=request,
        )
        context["created"] = created
    except ValueError:
        context["token_error"] = "The lifetime must be a whole number of days."  # noqa: S105
    except ApiError as exc:
        context["token_error"] = exc.message
    context["tokens"] = api_token_list_for_user(user=request.user, tenant=request.tenant)  # type: ignore[arg-type,attr-defined]
    status = 422 if "token_error" in context else 200
    return render(request, "tenants/_tokens.html", context, status=status)


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of the user's tokens (htmx) and re-render the list."""
    token = api_token_get_for_user(user=request.user, tenant=request.tenant, token_id=token_id)  # type: ignore[arg-type,attr-defined]
    if token is not None:
        api_token_revoke(token=token, actor=request.user, request=request)  # type: ignore[arg-type]
    return render(request, "tenants/_tokens.html", _settings_context(request), status=200 if token else 404)


@require_http_methods(["GET", "POST"])
def invitation_accept_view(request: HttpRequest, secret: str) -> HttpResponse:
    """An invitation's accept link: sign in (or create an account) with the invited address, then accept."""
    tenant = request.tenant  # type: ignore[attr-defined]
    invitation = invitation_pending_get(tenant=tenant, secret=secret)
    if invitation is None:
        return render(request, "tenants/invitation.html", {"invalid": True}, status=404)
    request.session[SESSION_INVITATION_KEY] = secret
    context: dict[str, object] = {"invitation": invitation, "next": request.path}
    if request.user.is_authenticated and request.method == "POST":
        try:
            invitation_accept(tenant=tenant, secret=secret, user=request.user, request=request)  # type: ignore[arg-type]
        except ApiError as exc:
            context["error"] = exc.message
            return render(request, "tenants/invitation.html", context, status=exc.status)
        request.session.pop(SESSION_INVITATION_KEY, None)
        messages.success(request, f"Welcome to {tenant.name}.")
        return redirect("home")
    if request.user.is_authenticated and request.user.email.lower() != invitation.email.lower():  # type: ignore[union-attr]
        context["error"] = (
            f"This invitation was sent to {invitation.email}; you are signed in as {request.user.email}. "  # type: ignore[union-attr]
            "Sign out and sign in with the invited address."
        )
    return render(request, "tenants/invitation.html", context)


class EmailManageView(EmailView):
    """allauth's e-mail page (change your address; the new one replaces the old only once confirmed), refusing to
    make an unverified address the sign-in address even for an account with no verified address yet (allauth would
    allow that), because the sign-in address is what invitations, grants and password resets trust."""

    def _action_primary(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse | None:
        email_address = self._get_email_address(request)
        if email_address is not None and not email_address.verified:
            audit_event_record_coalesced(
                coalesce_key=f"auth.email_primary_refused|{request.user.pk}",
                action="auth.email_primary_refused",
                request=request,
                target=request.user,  # type: ignore[arg-type]
                details={"email": email_address.email},
            )
            messages.error(
                request,
                f"{email_address.email} is not confirmed yet: open the link we mailed to it first. "
                "An unconfirmed address cannot become your sign-in address.",
            )
            return HttpResponseRedirect(self.get_success_url())
        return super()._action_primary(request, *args, **kwargs)  # type: ignore[no-any-return]


email_manage = EmailManageView.as_view()
