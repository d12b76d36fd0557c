"""Guardian's generic permission tables must never hold tenant objects (they leak across schemas)."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django_tenants.utils import tenant_context
from guardian.shortcuts import assign_perm

from audit.services import audit_event_record
from tenants.permissions import direct_fk_problems, guarded_models, guarded_models_check, tenant_app_labels

pytestmark = pytest.mark.django_db


def test_generic_permission_rows_for_tenant_objects_are_refused(tenant_a, make_member) -> None:
    user = make_member(tenant_a)
    with tenant_context(tenant_a):
        event = audit_event_record(action="guardian.canary")
        with pytest.raises(ImproperlyConfigured, match="direct-FK permission models"):
            assign_perm("audit.view_auditevent", user, event)


def test_every_guarded_tenant_model_has_direct_fk_permission_models() -> None:
    assert guarded_models_check() == []
    for model in guarded_models():
        assert direct_fk_problems(model) == []
        assert model._meta.app_label in tenant_app_labels()


def test_the_check_flags_a_guarded_model_without_direct_fk_models() -> None:
    class Unsafe(models.Model):
        object_permissions_guarded = True

        class Meta:
            app_label = "datasets"

        def __str__(self) -> str:
            return "unsafe"

    try:
        problems = direct_fk_problems(Unsafe)
        assert any("direct-FK user" in p for p in problems) and any("direct-FK group" in p for p in problems)
        assert any("datasets.Unsafe" in str(message.msg) for message in guarded_models_check())
    finally:
        apps.all_models["datasets"].pop("unsafe", None)
        apps.clear_cache()
