"""Template context: the current tenant, the user's role in it, and the tenants they can switch to."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from core.config import config_get
from tenants.hosts import platform_url
from tenants.selectors import membership_list_for_user


def _invited(request: HttpRequest) -> bool:
    from tenants.members import invitation_in_session

    return invitation_in_session(request) is not None


def tenant_context(request: HttpRequest) -> dict[str, Any]:
    """Expose ``current_tenant``, ``membership`` and ``switchable_tenants`` to templates (lazily)."""
    tenant = getattr(request, "tenant", None)
    user = getattr(request, "user", None)

    def switchable() -> list[dict[str, Any]]:
        if user is None or not user.is_authenticated:
            return []
        port = request.get_port()
        suffix = "" if port in {"80", "443"} else f":{port}"
        items = []
        for membership in membership_list_for_user(user=user):  # type: ignore[arg-type]
            host = membership.tenant.primary_domain_name()
            if host:
                items.append(
                    {
                        "name": membership.tenant.name,
                        "role": membership.get_role_display(),
                        "url": f"{request.scheme}://{host}{suffix}/",
                        "current": tenant is not None and membership.tenant_id == tenant.pk,
                    }
                )
        return items

    return {
        "signup_open": lambda: bool(config_get("self_signup_allowed")) or _invited(request),
        "current_tenant": tenant if tenant is not None and tenant.schema_name != "public" else None,
        "membership": getattr(request, "membership", None),
        "switchable_tenants": switchable,
        "platform_home_url": lambda: platform_url(request),
    }
