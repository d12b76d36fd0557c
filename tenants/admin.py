"""Platform admin (public host, superusers): tenants, domains, users, memberships, tokens."""

from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from tenants.models import ApiToken, Domain, Membership, Tenant, User


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class MembershipInline(admin.TabularInline):
    """Memberships of a workspace. Removing one is the governed action (the members API and console): it revokes
    the person's tokens, grants, team seats and pending requests, which deleting the row here would leave behind."""

    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    can_delete = False


@admin.register(Tenant)
class TenantAdmin(SimpleHistoryAdmin):
    list_display = ["name", "slug", "schema_name", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["schema_name", "created_at"]
    inlines = [DomainInline, MembershipInline]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_staff", "is_superuser", "date_joined"]
    search_fields = ["email", "full_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    filter_horizontal = ()
    list_filter = ["is_active", "is_staff", "is_superuser"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens for inspection. Who a token acts for, what it may do, how long it lives and whether it is revoked are
    read-only here: tokens are made and revoked through the audited API and settings page (clearing ``revoked_at``
    or pushing ``expires_at`` here would bring a token back without any record); deleting one only ends it."""

    list_display = ["name", "prefix", "user", "tenant", "created_at", "expires_at", "revoked_at"]
    list_filter = ["tenant"]
    search_fields = ["name", "prefix", "user__email"]
    readonly_fields = [
        "user",
        "tenant",
        "prefix",
        "digest",
        "scope",
        "parent",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Tokens are created through the API or the settings page (their secret is shown once there)."""
        return False


def _superusers_only(request: HttpRequest) -> bool:
    """The admin (public host and workspace hosts) is for platform superusers only, not merely staff."""
    user = request.user
    return bool(user.is_active and user.is_superuser)


# Sign-in goes through allauth (rate limits, MFA) instead of the admin's own unprotected login form.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
admin.site.has_permission = _superusers_only  # type: ignore[method-assign]
