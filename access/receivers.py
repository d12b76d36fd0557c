"""Access's part in events of the layers below: a member who leaves a workspace keeps nothing here, a dataset
registered in a study inherits the study's grants, and a deleted workspace leaves no team groups behind. Each runs
inside the announcing transaction."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.http import HttpRequest
from django_tenants.utils import schema_context

from access.models import TeamMember
from access.permissions import team_groups_remove
from access.selectors import grants_for_user, live_q
from access.services import dataset_grants_mirror, grant_revoke, team_member_remove
from datasets.events import dataset_registered
from datasets.models import Dataset
from tenants.events import member_removed
from tenants.models import Tenant


@receiver(member_removed)
def _member_removed(
    sender: Any, *, tenant: Tenant, user: Any, actor: Any, request: HttpRequest | None, **kwargs: Any
) -> None:
    """Revoke the removed member's live grants and team seats (audited each); re-adding them later starts from their
    role."""
    with schema_context(tenant.schema_name):
        for grant in grants_for_user(user=user, tenant=tenant).filter(live_q(), user_id=user.pk):
            grant_revoke(tenant=tenant, actor=actor, grant=grant, request=request)
        for team in {m.team for m in TeamMember.objects.filter(user_id=user.pk).select_related("team")}:
            team_member_remove(tenant=tenant, actor=actor, team=team, user=user, request=request)


@receiver(pre_delete, sender=Tenant)
def _workspace_deleted(sender: Any, instance: Tenant, **kwargs: Any) -> None:
    """The groups that mirror the workspace's teams (public tables) go with it."""
    team_groups_remove(schema_name=instance.schema_name)


@receiver(dataset_registered)
def _dataset_registered(sender: Any, *, dataset: Dataset, **kwargs: Any) -> None:
    """Study-wide grants reach the new dataset's guardian rows."""
    dataset_grants_mirror(dataset=dataset)
