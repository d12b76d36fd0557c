"""Review regression: two owners demoting each other at the same time never leave the workspace without an owner."""

from __future__ import annotations

import threading
from typing import Any

from django.db import connection, transaction

from core.errors import Conflict
from tenants.models import Membership, Tenant, User
from tenants.roles import Role
from tenants.services import membership_set
from tests.conftest import PASSWORD, unique_email


def test_concurrent_demotions_keep_one_owner(django_db_setup: None, django_db_blocker: Any) -> None:
    outcome: dict[str, Any] = {}
    locked, go = threading.Event(), threading.Event()
    with django_db_blocker.unblock():
        tenant = Tenant.objects.get(slug="lab-b")
        assert not Membership.objects.filter(tenant=tenant, role=Role.OWNER).exists()  # committed data: none
        first = User.objects.create_user(email=unique_email("owner"), password=PASSWORD)
        second = User.objects.create_user(email=unique_email("owner"), password=PASSWORD)
        for user in (first, second):
            Membership.objects.create(tenant=tenant, user=user, role=Role.OWNER)
        try:

            def demote_second() -> None:  # holds its transaction open until the other demotion has started
                try:
                    with transaction.atomic():
                        membership_set(tenant=tenant, user=second, role=Role.STEWARD, actor=first)
                        locked.set()
                        go.wait(10)
                    outcome["second"] = "demoted"
                except BaseException as exc:
                    outcome["second"] = exc
                    locked.set()
                finally:
                    connection.close()

            def demote_first() -> None:
                try:
                    membership_set(tenant=tenant, user=first, role=Role.STEWARD, actor=second)
                    outcome["first"] = "demoted"
                except BaseException as exc:
                    outcome["first"] = exc
                finally:
                    connection.close()

            one = threading.Thread(target=demote_second)
            one.start()
            assert locked.wait(10)
            two = threading.Thread(target=demote_first)
            two.start()
            two.join(1.0)  # with the owner rows locked it waits for the first transaction
            go.set()
            one.join(10)
            two.join(10)
            owners = Membership.objects.filter(tenant=tenant, role=Role.OWNER).count()
        finally:
            Membership.objects.filter(user__in=[first, second]).delete()
            connection.set_schema_to_public()
    print("OUTCOME", outcome, owners)
    assert outcome["second"] == "demoted"
    assert isinstance(outcome["first"], Conflict) and outcome["first"].code == "last_owner"
    assert owners == 1
