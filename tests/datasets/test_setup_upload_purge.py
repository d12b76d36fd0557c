"""Abandoned setup-wizard uploads are purged after the retention period; fresh ones and other tenants' stay."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from django_tenants.utils import tenant_context

from datasets.storage import setup_upload_name, setup_uploads_purge
from datasets.tasks import setup_uploads_purge_all

pytestmark = pytest.mark.django_db


def _staged(tenant: Any, study_pk: int, age: timedelta) -> str:
    """A wizard upload of ``tenant`` last modified ``age`` ago."""
    with tenant_context(tenant):
        name = default_storage.save(setup_upload_name(study_pk), ContentFile(b"participant_id\nP1\n"))
    stamp = (timezone.now() - age).timestamp()
    os.utime(default_storage.path(name), (stamp, stamp))
    return name


def test_only_uploads_older_than_the_retention_are_removed(tenant_a: Any) -> None:
    old = _staged(tenant_a, 7, timedelta(hours=30))
    fresh = _staged(tenant_a, 7, timedelta(hours=1))
    other_study_old = _staged(tenant_a, 8, timedelta(days=3))
    with tenant_context(tenant_a):
        removed = setup_uploads_purge(older_than=timedelta(hours=24), now=timezone.now())
    assert removed == 2
    assert not default_storage.exists(old)
    assert not default_storage.exists(other_study_old)
    assert default_storage.exists(fresh)


def test_purge_without_any_wizard_upload_is_a_no_op(tenant_a: Any) -> None:
    with tenant_context(tenant_a):
        assert setup_uploads_purge(older_than=timedelta(hours=24), now=timezone.now()) == 0


def test_beat_task_purges_every_tenant_with_its_own_retention(tenant_a: Any, tenant_b: Any) -> None:
    tenant_b.settings = {**(tenant_b.settings or {}), "setup_upload_retention_hours": 72}
    tenant_b.save(update_fields=["settings"])
    a_old = _staged(tenant_a, 1, timedelta(hours=48))
    b_kept = _staged(tenant_b, 1, timedelta(hours=48))
    b_old = _staged(tenant_b, 2, timedelta(hours=100))
    assert setup_uploads_purge_all() >= 2
    assert not default_storage.exists(a_old)
    assert default_storage.exists(b_kept)
    assert not default_storage.exists(b_old)
