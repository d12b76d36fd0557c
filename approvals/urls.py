"""Pages of access requests (requester side) and the steward console (mounted at the site root)."""

from django.urls import path

from approvals import console, console_access, console_activity, console_settings, views

urlpatterns = [
    path("access/request/<slug:slug>/", views.access_request_new, name="access_request_new"),
    path("access/requests/", views.my_access_requests, name="my_access_requests"),
    path("access/requests/<int:request_id>/", views.my_access_request_action, name="my_access_request_action"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("console/", console.console_home, name="console"),
    path("console/requests/", console.console_requests, name="console_requests"),
    path("console/requests/<int:request_id>/decide/", console.console_request_decide, name="console_request_decide"),
    path("console/members/", console.console_members, name="console_members"),
    path("console/members/invite/", console.console_member_invite, name="console_member_invite"),
    path("console/members/role/", console.console_member_role, name="console_member_role"),
    path("console/members/remove/", console.console_member_remove, name="console_member_remove"),
    path(
        "console/invitations/<int:invitation_id>/revoke/",
        console.console_invitation_revoke,
        name="console_invitation_revoke",
    ),
    path("console/grants/", console_access.console_grants, name="console_grants"),
    path("console/grants/new/", console_access.console_grant_create, name="console_grant_create"),
    path("console/grants/<int:grant_id>/revoke/", console_access.console_grant_revoke, name="console_grant_revoke"),
    path("console/teams/", console_access.console_teams, name="console_teams"),
    path("console/teams/new/", console_access.console_team_create, name="console_team_create"),
    path("console/teams/<slug:slug>/members/", console_access.console_team_member, name="console_team_member"),
    path("console/explain/", console_access.console_explain, name="console_explain"),
    path("console/activity/", console_activity.console_activity, name="console_activity"),
    path("console/activity/reset/", console_activity.console_activity_reset, name="console_activity_reset"),
    path("console/terms/", console_access.console_terms, name="console_terms"),
    path("console/settings/", console_settings.console_settings, name="console_settings"),
]
