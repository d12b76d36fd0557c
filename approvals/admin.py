"""Django admin (superusers, on a workspace host): access requests, terms of use and notifications."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import connection
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from approvals.models import AccessRequest, DataUseAgreement, Notification


class WorkspaceOnly:
    """Tenant tables exist only in workspace schemas: hide these models from the platform host's admin."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return getattr(connection, "schema_name", "public") != "public" and super().has_module_permission(request)  # type: ignore[misc]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return getattr(connection, "schema_name", "public") != "public" and super().has_view_permission(request, obj)  # type: ignore[misc]


@admin.register(DataUseAgreement)
class DataUseAgreementAdmin(WorkspaceOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["study", "version", "created_by", "created_at"]
    list_filter = ["study"]
    readonly_fields = ["study", "version", "text", "created_by", "created_at"]


@admin.register(AccessRequest)
class AccessRequestAdmin(WorkspaceOnly, SimpleHistoryAdmin):  # type: ignore[type-arg]
    list_display = ["pk", "requester", "study", "level", "status", "granted_level", "granted_expires_at", "created_at"]
    list_filter = ["status", "level", "study"]
    search_fields = ["requester__email", "purpose"]
    readonly_fields = ["requester", "study", "datasets", "level", "purpose", "dua", "accepted_at", "created_at"]


@admin.register(Notification)
class NotificationAdmin(WorkspaceOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["user", "kind", "text", "created_at", "read_at"]
    list_filter = ["kind"]
    search_fields = ["user__email", "text"]


# Grants and teams (the access app has no admin module of its own; registered here unless it gains one, which
# Django would load first since ``access`` precedes ``approvals`` in INSTALLED_APPS).
def _register_access_models() -> None:
    from access.models import Grant, Team, TeamMember

    class GrantAdmin(WorkspaceOnly, SimpleHistoryAdmin):  # type: ignore[type-arg]
        list_display = ["pk", "study", "dataset", "user", "team", "role", "level", "expires_at", "revoked_at", "source"]
        list_filter = ["level", "study", "source"]
        search_fields = ["user__email", "reason", "source"]
        readonly_fields = ["created_at", "granted_by", "revoked_by", "expiry_recorded_at"]

    class TeamMemberInline(admin.TabularInline):
        model = TeamMember
        extra = 0

    class TeamAdmin(WorkspaceOnly, SimpleHistoryAdmin):  # type: ignore[type-arg]
        list_display = ["name", "slug", "created_at"]
        search_fields = ["name", "slug"]
        inlines = [TeamMemberInline]

    for model, model_admin in ((Grant, GrantAdmin), (Team, TeamAdmin)):
        if not admin.site.is_registered(model):
            admin.site.register(model, model_admin)


_register_access_models()
