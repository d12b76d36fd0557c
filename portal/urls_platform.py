"""Pages of the portal on the platform host. The operator console gets the platform's health checks from the URL
configuration (they live in the wiring above this app)."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path

from portal import operator_views, views


def platform_patterns(*, health: Any = None, queues: Any = None) -> list[URLPattern]:
    return [
        path("", views.platform_home, name="public_home"),
        path("workspaces/new/", views.workspace_new, name="portal_workspace_new"),
        path("workspaces/<slug:slug>/open/", views.workspace_open, name="portal_workspace_open"),
        path("invitations/<int:invitation_id>/accept/", views.invitation_accept, name="portal_invitation_accept"),
        path(
            "operator/",
            operator_views.operator_console,
            {"health": health, "queues": queues},
            name="operator_console",
        ),
        path("operator/workspaces/<slug:slug>/export/", operator_views.operator_export, name="operator_export"),
        path("operator/workspaces/<slug:slug>/<str:action>/", operator_views.operator_action, name="operator_action"),
    ]
