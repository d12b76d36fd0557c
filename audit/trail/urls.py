"""Steward pages of the audit trail (mounted at /audit/)."""

from django.urls import path

from audit.trail import views

urlpatterns = [
    path("", views.audit_log_view, name="audit_log"),
    path("export.csv", views.audit_export_view, name="audit_export"),
    path("users/<int:user_id>/", views.audit_user_view, name="audit_user"),
    path("history/", views.audit_history_view, name="audit_history"),
]
