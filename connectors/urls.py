"""Console pages of connections and syncs (mounted under /console/)."""

from django.urls import path

from connectors import views

urlpatterns = [
    path("connections/", views.connections_page, name="connections_page"),
    path("connections/new/", views.connection_create_view, name="connection_create"),
    path("connections/<int:connection_id>/", views.connection_page, name="connection_page"),
    path("connections/<int:connection_id>/test/", views.connection_test_view, name="connection_test"),
    path("connections/<int:connection_id>/delete/", views.connection_delete_view, name="connection_delete"),
    path("connections/<int:connection_id>/syncs/new/", views.sync_create_view, name="sync_create"),
    path("syncs/", views.syncs_page, name="syncs_page"),
    path("syncs/<int:sync_id>/", views.sync_page, name="sync_page"),
    path("syncs/<int:sync_id>/run/", views.sync_run_view, name="sync_run"),
    path("syncs/<int:sync_id>/drift/accept/", views.sync_drift_accept_view, name="sync_drift_accept"),
]
