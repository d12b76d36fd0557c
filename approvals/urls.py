"""Pages of access requests (requester side) and the steward console (mounted at the site root)."""

from django.urls import path

from approvals import views
from approvals.console import activity, grants, members, requests, settings

urlpatterns = [
    path("access/request/<slug:slug>/", views.access_request_new, name="access_request_new"),
    path("access/requests/", views.my_access_requests, name="my_access_requests"),
    path("access/requests/<int:request_id>/", views.my_access_request_action, name="my_access_request_action"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("console/", requests.console_home, name="console"),
    path("console/requests/", requests.console_requests, name="console_requests"),
    path("console/requests/<int:request_id>/decide/", requests.console_request_decide, name="console_request_decide"),
    path("console/requests/decide/", requests.console_requests_decide, name="console_requests_decide"),
    path("console/members/", members.console_members, name="console_members"),
    path("console/members/invite/", members.console_member_invite, name="console_member_invite"),
    path("console/members/role/", members.console_member_role, name="console_member_role"),
    path("console/members/remove/", members.console_member_remove, name="console_member_remove"),
    path(
        "console/invitations/<int:invitation_id>/revoke/",
        members.console_invitation_revoke,
        name="console_invitation_revoke",
    ),
    path("console/grants/", grants.console_grants, name="console_grants"),
    path("console/grants/new/", grants.console_grant_create, name="console_grant_create"),
    path("console/grants/<int:grant_id>/revoke/", grants.console_grant_revoke, name="console_grant_revoke"),
    path("console/teams/", grants.console_teams, name="console_teams"),
    path("console/teams/new/", grants.console_team_create, name="console_team_create"),
    path("console/teams/<slug:slug>/members/", grants.console_team_member, name="console_team_member"),
    path("console/explain/", grants.console_explain, name="console_explain"),
    path("console/activity/", activity.console_activity, name="console_activity"),
    path("console/activity/reset/", activity.console_activity_reset, name="console_activity_reset"),
    path("console/terms/", grants.console_terms, name="console_terms"),
    path("console/settings/", settings.console_settings, name="console_settings"),
]
