"""Pages of the builder across studies (mounted at /federated/ on a workspace's host)."""

from django.urls import path

from harmonization import pages

urlpatterns = [
    path("", pages.federated_builder, name="federated_builder"),
    path("count/", pages.federated_builder_count, name="federated_builder_count"),
    path("run/", pages.federated_builder_run, name="federated_builder_run"),
    path("runs/<int:run_id>/", pages.federated_run_page, name="federated_run_page"),
]
