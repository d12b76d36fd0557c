"""URLs served on the platform's public host: landing page, sign-in, and the admin for superusers."""

from django.contrib import admin
from django.urls import include, path

from bdt_project.health import health_check
from bdt_project.monitoring.collectors import CeleryQueueCollector
from bdt_project.monitoring.views import metrics_view
from bdt_project.platform_api import platform_api
from portal.urls_platform import platform_patterns
from tenants import views as tenant_views

handler400 = "core.errors.bad_request"
handler403 = "core.errors.permission_denied"
handler404 = "core.errors.not_found"
handler500 = "core.errors.server_error"

admin.site.site_header = "BDT Platform administration"
admin.site.site_title = "BDT Platform admin"

urlpatterns = [
    *platform_patterns(health=health_check, queues=CeleryQueueCollector().collect),
    path("api/v1/", platform_api.urls),
    path("", include("harmonization.public_urls")),  # the discovery catalog (no sign-in)
    path("admin/", admin.site.urls),
    path("accounts/email/", tenant_views.email_manage, name="account_email"),  # before allauth's own
    path("accounts/", include("allauth.urls")),
    path("metrics", metrics_view, name="metrics"),
]
