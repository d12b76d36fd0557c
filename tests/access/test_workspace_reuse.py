"""A purged workspace leaves nothing of its teams behind: the auth groups that mirror its teams for guardian (public
tables, named after the workspace's schema and the team's slug) go with it, and a team never starts with members it
did not add. Before, the groups outlived the purge with their members, and a new workspace under the same slug that
made a team of the same name got the old group back: the old workspace's people were members of the new team's
guardian group, so every permission its grants mirrored was theirs too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from portal.deletion import workspace_delete_schedule, workspace_purge
from tenants.models import Tenant
from tenants.services import tenant_create

pytestmark = pytest.mark.django_db


def _workspace(api) -> tuple[Tenant, object]:
    connection.set_schema_to_public()
    tenant = tenant_create(slug="lab-reborn", name="Lab Reborn", domain="lab-reborn.test").tenant
    connection.set_schema_to_public()
    return tenant, api(tenant, "steward")


def test_a_purged_workspaces_teams_do_not_follow_its_slug(api, make_member) -> None:
    old, steward = _workspace(api)
    insider = make_member(old, "analyst")
    assert steward.post("/api/v1/teams", {"name": "Core"}).status_code == 201
    assert steward.post("/api/v1/teams/core/members", {"email": insider.email}).status_code == 201
    group_name = f"{old.schema_name}:team:core"
    assert list(Group.objects.get(name=group_name).user_set.values_list("pk", flat=True)) == [insider.pk]

    connection.set_schema_to_public()
    workspace_delete_schedule(tenant=Tenant.objects.get(pk=old.pk), grace_days=0)
    Tenant.objects.filter(pk=old.pk).update(delete_after=timezone.now() - timedelta(minutes=1))
    with connection.cursor() as cursor:  # run the uncommitted rows' deferred checks before the schema is dropped
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    workspace_purge(tenant=Tenant.objects.get(pk=old.pk))
    connection.set_schema_to_public()
    assert not Group.objects.filter(name__startswith=f"{old.schema_name}:team:").exists()

    # A leftover group (from a purge before this rule) never hands its members to a new team of the same name.
    Group.objects.create(name=group_name).user_set.add(insider)
    new, new_steward = _workspace(api)
    assert new.schema_name == old.schema_name
    assert new_steward.post("/api/v1/teams", {"name": "Core"}).status_code == 201
    assert not Group.objects.get(name=group_name).user_set.exists()
