"""URLs served on a tenant's host (a lab or consortium workspace)."""

from django.urls import include, path

from bdt_project.api import api
from tenants import views as tenant_views

handler400 = "bdt_project.errors.bad_request"
handler403 = "bdt_project.errors.permission_denied"
handler404 = "bdt_project.errors.not_found"
handler500 = "bdt_project.errors.server_error"

urlpatterns = [
    path("", tenant_views.home, name="home"),
    path("settings/", tenant_views.account_settings, name="account_settings"),
    path("settings/tokens/", tenant_views.token_create_view, name="token_create"),
    path("settings/tokens/<int:token_id>/revoke/", tenant_views.token_revoke_view, name="token_revoke"),
    path("studies/", include("datasets.urls")),
    path("queries/", include("queries.urls")),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", api.urls),
]
