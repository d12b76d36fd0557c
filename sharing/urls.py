"""Sharing pages (mounted at the site root): /sharing/ for members, /console/sharing/ for stewards."""

from django.urls import path, re_path

from sharing import views

urlpatterns = [
    path("sharing/", views.sharing_home, name="sharing_home"),
    path("console/sharing/", views.console_sharing, name="console_sharing"),
    path("console/sharing/offer/", views.console_offer, name="console_sharing_offer"),
    path("console/sharing/<int:contribution_id>/usage/", views.console_usage, name="console_sharing_usage"),
    re_path(
        r"^console/sharing/(?P<contribution_id>[0-9]+)/(?P<action>accept|decline|level|withdraw)/$",
        views.console_contribution_action,
        name="console_sharing_action",
    ),
    path(
        "console/sharing/<int:contribution_id>/requests/<int:request_id>/",
        views.console_request_decide,
        name="console_sharing_request",
    ),
]
