"""The only access module that calls django-guardian: mirrors live grants as direct-FK object permissions.

Permission rows: one ``auth.Permission`` per level above metadata (``access_count``, ``access_query``,
``access_export``, ``access_manage``) plus ``access_identifying``, all on the content type of
``datasets.Dataset``. ``auth_permission`` and ``django_content_type`` are public tables (contenttypes/auth are
shared apps), so the rows are created on first use from any schema (and by a post-migrate hook) rather than by a
``datasets`` migration. A grant of level L mirrors as the permissions of L and every level below it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from guardian.shortcuts import get_perms

from access.levels import LEVEL_RANK, Level
from access.models import DatasetGroupObjectPermission, DatasetUserObjectPermission, Grant
from datasets.models import Dataset

IDENTIFYING_CODENAME = "access_identifying"
LEVEL_CODENAMES: dict[str, str] = {
    Level.COUNT: "access_count",
    Level.QUERY: "access_query",
    Level.EXPORT: "access_export",
    Level.MANAGE: "access_manage",
}
PERMISSION_NAMES: dict[str, str] = {
    "access_count": "Aggregate counts on the dataset",
    "access_query": "Row-level queries on the dataset",
    "access_export": "Exports of the dataset",
    "access_manage": "Manage grants on the dataset",
    IDENTIFYING_CODENAME: "Identifying columns of the dataset",
}


def dataset_permissions_ensure() -> dict[str, Permission]:
    """The access permission rows on Dataset (created in the public tables when missing)."""
    content_type = ContentType.objects.get_for_model(Dataset)
    found = {p.codename: p for p in Permission.objects.filter(content_type=content_type, codename__in=PERMISSION_NAMES)}
    for codename, name in PERMISSION_NAMES.items():
        if codename not in found:
            try:
                with transaction.atomic():
                    found[codename], _ = Permission.objects.get_or_create(
                        content_type=content_type, codename=codename, defaults={"name": name}
                    )
            except IntegrityError:  # created concurrently
                found[codename] = Permission.objects.get(content_type=content_type, codename=codename)
    return found


def codenames_for(level: str, identifying: bool) -> set[str]:
    """The permission codenames a live grant of ``level`` mirrors to."""
    names = {code for lvl, code in LEVEL_CODENAMES.items() if LEVEL_RANK[lvl] <= LEVEL_RANK[level]}
    if identifying and LEVEL_RANK[level] >= LEVEL_RANK[Level.QUERY]:
        names.add(IDENTIFYING_CODENAME)
    return names


def _wanted(
    grants: Iterable[Grant], datasets: list[Dataset]
) -> tuple[set[tuple[int, int, str]], set[tuple[int, int, str]]]:
    """(user_id, dataset_id, codename) and (group_id, dataset_id, codename) rows the live grants call for."""
    users: set[tuple[int, int, str]] = set()
    groups: set[tuple[int, int, str]] = set()
    for grant in grants:
        targets = [grant.dataset_id] if grant.dataset_id else [d.pk for d in datasets]
        for code in codenames_for(grant.level, grant.identifying):
            for dataset_id in targets:
                if grant.user_id:
                    users.add((grant.user_id, dataset_id, code))
                elif grant.team is not None and grant.team.group_id:
                    groups.add((grant.team.group_id, dataset_id, code))
    return users, groups


def study_permissions_sync(*, study: Any, live_grants: Iterable[Grant]) -> None:
    """Make the guardian rows of ``study``'s datasets equal to what ``live_grants`` (user and team grants) call for."""
    perms = dataset_permissions_ensure()
    by_id = {p.pk: code for code, p in perms.items()}
    datasets = list(Dataset.objects.filter(study=study))
    want_users, want_groups = _wanted(live_grants, datasets)
    dataset_ids = [d.pk for d in datasets]

    have_users = {
        (row.user_id, row.content_object_id, by_id.get(row.permission_id, "")): row.pk
        for row in DatasetUserObjectPermission.objects.filter(content_object_id__in=dataset_ids)
    }
    stale = [pk for key, pk in have_users.items() if key not in want_users]
    DatasetUserObjectPermission.objects.filter(pk__in=stale).delete()
    DatasetUserObjectPermission.objects.bulk_create(
        [
            DatasetUserObjectPermission(user_id=u, content_object_id=d, permission=perms[c])
            for (u, d, c) in sorted(want_users - set(have_users))
        ]
    )

    have_groups = {
        (row.group_id, row.content_object_id, by_id.get(row.permission_id, "")): row.pk
        for row in DatasetGroupObjectPermission.objects.filter(content_object_id__in=dataset_ids)
    }
    stale = [pk for key, pk in have_groups.items() if key not in want_groups]
    DatasetGroupObjectPermission.objects.filter(pk__in=stale).delete()
    DatasetGroupObjectPermission.objects.bulk_create(
        [
            DatasetGroupObjectPermission(group_id=g, content_object_id=d, permission=perms[c])
            for (g, d, c) in sorted(want_groups - set(have_groups))
        ]
    )


def dataset_permissions_mirror(*, dataset: Dataset, live_grants: Iterable[Grant]) -> None:
    """Add the guardian rows a new dataset gets from its study's live study-wide user and team grants.

    Idempotent and safe against a concurrent grant sync (rows that already exist are left alone)."""
    perms = dataset_permissions_ensure()
    study_wide = [grant for grant in live_grants if grant.dataset_id is None]
    want_users, want_groups = _wanted(study_wide, [dataset])
    DatasetUserObjectPermission.objects.bulk_create(
        [
            DatasetUserObjectPermission(user_id=u, content_object_id=d, permission=perms[c])
            for (u, d, c) in sorted(want_users)
        ],
        ignore_conflicts=True,
    )
    DatasetGroupObjectPermission.objects.bulk_create(
        [
            DatasetGroupObjectPermission(group_id=g, content_object_id=d, permission=perms[c])
            for (g, d, c) in sorted(want_groups)
        ],
        ignore_conflicts=True,
    )


def team_group_create(*, name: str) -> Group:
    """The auth Group (public table) that mirrors a new team for guardian, without members: a group left by an
    earlier workspace under the same schema name never hands its members to the new team."""
    group, created = Group.objects.get_or_create(name=name)
    if not created:
        group.user_set.clear()
    return group


def team_groups_remove(*, schema_name: str) -> int:
    """Delete the auth Groups that mirror the teams of the workspace ``schema_name`` (when it is deleted: they live
    in the public schema and would outlive it); returns how many."""
    deleted, _ = Group.objects.filter(name__startswith=f"{schema_name}:team:").delete()
    return int(deleted)


def team_group_members_set(*, group: Group, user_ids: Iterable[int]) -> None:
    """Keep the auth Group's members equal to the team's."""
    group.user_set.set(list(user_ids))


def dataset_perms_for_user(*, user: Any, dataset: Dataset) -> list[str]:
    """The guardian codenames ``user`` holds on ``dataset`` (for the console and tests)."""
    return list(get_perms(user, dataset))
