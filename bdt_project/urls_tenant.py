"""URLs served on a tenant's host (a lab or consortium workspace)."""

from django.contrib import admin
from django.urls import include, path

from bdt_project.api import api
from portal.urls_workspace import console_patterns, handoff_patterns
from studies.views.home import home
from tenants import views as tenant_views

handler400 = "core.errors.bad_request"
handler403 = "core.errors.permission_denied"
handler404 = "core.errors.not_found"
handler500 = "core.errors.server_error"

urlpatterns = [
    path("", home, name="home"),
    path("settings/", tenant_views.account_settings, name="account_settings"),
    path("settings/tokens/", tenant_views.token_create_view, name="token_create"),
    path("settings/tokens/<int:token_id>/revoke/", tenant_views.token_revoke_view, name="token_revoke"),
    path("invitations/<str:secret>/", tenant_views.invitation_accept_view, name="invitation_accept"),
    path("studies/", include("studies.urls")),
    path("queries/", include("queries.pages.urls")),
    path("queries/", include("analysis.urls")),
    path("console/", include(console_patterns)),
    path("console/", include("connectors.urls")),
    path("federated/", include("harmonization.urls")),
    path("", include("approvals.urls")),
    path("", include("sharing.urls")),
    path("audit/", include("audit.trail.urls")),
    path("usage/", include("portal.urls_workspace")),
    path("accounts/email/", tenant_views.email_manage, name="account_email"),  # before allauth's own
    *handoff_patterns,
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),  # superusers: this workspace's governance records (access, approvals)
    path("api/v1/", api.urls),
]
