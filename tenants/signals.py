"""Audit receivers for authentication events (allauth and Django emit these; the audit service writes)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from audit.services import audit_event_record, audit_event_record_in


@receiver(user_logged_in)
def _audit_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    audit_event_record(action="auth.login", actor=user, request=request, target=user)


@receiver(user_logged_out)
def _audit_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_event_record(action="auth.logout", actor=user, request=request, target=user)


@receiver(user_login_failed)
def _audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    attempted = str(credentials.get("email") or credentials.get("username") or "")[:254]
    audit_event_record(action="auth.login_failed", request=request, details={"email": attempted})


# --- Two-factor authentication and passwords (allauth signals; the audit service writes) ----------------------


def _audit_authenticator(action: str) -> Any:
    def receiver_(
        sender: Any, request: HttpRequest | None, user: Any, authenticator: Any = None, **kwargs: Any
    ) -> None:
        kind = str(getattr(authenticator, "type", "") or "")
        # Recovery codes come with a first authenticator: their own action keeps "one event per action" readable.
        named = action.replace("auth.mfa_", "auth.mfa_recovery_codes_") if kind == "recovery_codes" else action
        audit_event_record(action=named, actor=user, request=request, target=user, details={"type": kind})

    receiver_.__name__ = f"_audit_{action.replace('.', '_')}"
    return receiver_


def _audit_password(action: str) -> Any:
    def receiver_(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
        audit_event_record(action=action, actor=user, request=request, target=user)

    receiver_.__name__ = f"_audit_{action.replace('.', '_')}"
    return receiver_


# --- E-mail addresses: recorded where it happened and in every workspace the account belongs to ----------------


def _email_event_schemas(request: HttpRequest | None, user: Any) -> list[str]:
    from audit.services import current_schema_name
    from tenants.models import Membership

    here = current_schema_name()
    schemas = [here]
    if getattr(user, "pk", None) is not None:
        for schema in Membership.objects.filter(user_id=user.pk).values_list("tenant__schema_name", flat=True):
            if schema not in schemas:
                schemas.append(schema)
    return schemas


def _audit_email(action: str) -> Any:
    def receiver_(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
        address = kwargs.get("email_address")
        user = kwargs.get("user") or getattr(address, "user", None)
        details: dict[str, Any] = {"email": getattr(address, "email", "")}
        if action == "auth.email_changed":
            details = {
                "from": getattr(kwargs.get("from_email_address"), "email", None),
                "to": getattr(kwargs.get("to_email_address"), "email", None),
            }
        elif address is not None:
            details["verified"] = bool(address.verified)
        audit_event_record_in(
            _email_event_schemas(request, user),
            action=action,
            actor=user,
            request=request,
            target=user,
            details=details,
        )

    receiver_.__name__ = f"_audit_{action.replace('.', '_')}"
    return receiver_


def _connect_allauth() -> None:
    from allauth.account import signals as account_signals
    from allauth.mfa import signals as mfa_signals

    for signal, action in (
        (mfa_signals.authenticator_added, "auth.mfa_added"),
        (mfa_signals.authenticator_removed, "auth.mfa_removed"),
        (mfa_signals.authenticator_reset, "auth.mfa_reset"),
        (mfa_signals.authentication_failed, "auth.mfa_failed"),
    ):
        signal.connect(_audit_authenticator(action), weak=False, dispatch_uid=action)
    for signal, action in (
        (account_signals.password_changed, "auth.password_changed"),
        (account_signals.password_set, "auth.password_set"),
        (account_signals.password_reset, "auth.password_reset"),
    ):
        signal.connect(_audit_password(action), weak=False, dispatch_uid=action)
    for signal, action in (
        (account_signals.email_added, "auth.email_added"),
        (account_signals.email_confirmed, "auth.email_confirmed"),
        (account_signals.email_changed, "auth.email_changed"),
        (account_signals.email_removed, "auth.email_removed"),
    ):
        signal.connect(_audit_email(action), weak=False, dispatch_uid=action)


_connect_allauth()
