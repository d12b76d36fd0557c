"""Steward console: the workspace's settings (limits, privacy, tokens), read by stewards, changed by owners.

The page only parses the form; ``tenants.workspace_settings`` authorizes, validates, records history and audits.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from approvals.console.common import flash_run, request_actor, steward_required
from approvals.console.setting_labels import GROUPS, LABELS, bytes_as_gib, gib_as_bytes, in_gib, label_of
from core.config import SETTINGS
from tenants.page_kit import request_tenant
from tenants.roles import Role
from tenants.workspace_settings import tenant_settings_for_user, tenant_settings_update

FIELD_PREFIX = "setting-"


def _shown(value: Any) -> str:
    """A setting's value as typed in the form (``true`` / ``false`` for switches)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _changes(request: HttpRequest, current: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The overrides the form changes: a blank field removes the override (``None``), text sets it (sizes are
    typed in GiB and stored in bytes)."""
    changes: dict[str, Any] = {}
    for key, row in current.items():
        name = FIELD_PREFIX + key
        if name not in request.POST:
            continue
        raw = request.POST[name].strip()
        if in_gib(key):
            if raw == bytes_as_gib(row["override"]):
                continue
            raw = gib_as_bytes(raw) if raw else ""
        if raw != _shown(row["override"]):
            changes[key] = raw or None
    return changes


def _field(key: str, value: Any) -> str:
    """A value as its form field shows it."""
    return bytes_as_gib(value) if in_gib(key) else _shown(value)


@require_http_methods(["GET", "POST"])
@steward_required
def console_settings(request: HttpRequest) -> HttpResponse:
    """Every setting a workspace may override: effective value, default, this workspace's override, meaning."""
    tenant = request_tenant(request)
    current = tenant_settings_for_user(user=request.user, tenant=tenant)
    if request.method == "POST":
        changes = _changes(request, current)
        if not changes:
            messages.info(request, "Nothing changed.")
        else:
            names = ", ".join(label_of(key).label for key in sorted(changes))
            flash_run(
                request,
                lambda: tenant_settings_update(
                    tenant=tenant, actor=request_actor(request), changes=changes, request=request
                ),
                f"Saved: {names}.",
            )
        return redirect("console_settings")
    groups: dict[str, list[dict[str, Any]]] = {group: [] for group in GROUPS}
    for key, row in current.items():
        label = label_of(key)
        groups.setdefault(label.group, []).append(
            {
                "key": key,
                "label": label,
                "doc": row["doc"],
                "value": _field(key, row["value"]),
                "default": _field(key, SETTINGS[key].default),
                "override": _field(key, row["override"]),
                "kind": SETTINGS[key].type.__name__,
                "choice_words": dict(label.choices),
            }
        )
    order = {key: i for i, key in enumerate(LABELS)}
    sections = [
        (group, sorted(rows, key=lambda r: order.get(r["key"], len(order)))) for group, rows in groups.items() if rows
    ]
    is_owner = getattr(request, "membership", None) is not None and request.membership.role == Role.OWNER  # type: ignore[attr-defined]
    return render(request, "console/settings.html", {"tab": "settings", "sections": sections, "is_owner": is_owner})
