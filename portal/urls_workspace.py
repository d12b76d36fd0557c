"""Pages of the portal on a workspace host."""

from django.urls import path

from portal import views, workspace_views

urlpatterns = [
    path("", workspace_views.usage_page, name="portal_usage"),
    path("profile/", workspace_views.profile_change, name="portal_profile_change"),
]

# Mounted under /console/ (the steward console's tab "Study defaults").
console_patterns = [path("study-defaults/", workspace_views.study_defaults, name="portal_study_defaults")]

# Mounted before allauth's URLs: signing in here with a ticket from the platform host.
handoff_patterns = [path("accounts/handoff/<str:ticket>/", views.handoff, name="portal_handoff")]
