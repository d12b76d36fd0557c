"""Guardian safety rails: tenant objects use direct-FK object-permission models only.

Guardian's generic tables (``guardian_userobjectpermission``) live in the public schema and key objects by content
type + primary key. Primary keys repeat across tenant schemas (pk 1 in lab A is pk 1 in lab B), so a permission
stored there for a tenant object would leak to the same pk in every other tenant. Two rails prevent that:

- a system check: every tenant model that declares ``object_permissions_guarded = True`` must have direct-FK
  user and group permission models (``UserObjectPermissionBase`` / ``GroupObjectPermissionBase`` subclasses);
- a runtime guard: saving a generic permission row for an object of a tenant app raises.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.signals import pre_save
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from guardian.utils import get_group_obj_perms_model, get_user_obj_perms_model

GENERIC_MODELS = ("guardian.UserObjectPermission", "guardian.GroupObjectPermission")


def tenant_app_labels() -> set[str]:
    """Labels of apps whose tables exist in tenant schemas (their primary keys repeat across tenants)."""
    return {app.rsplit(".", 1)[-1] for app in settings.TENANT_APPS}


def guarded_models() -> list[type[models.Model]]:
    """Tenant models that carry object-level permissions."""
    labels = tenant_app_labels()
    return [
        model
        for model in apps.get_models()
        if model._meta.app_label in labels and getattr(model, "object_permissions_guarded", False)
    ]


def _has_direct_model(model: type[models.Model], base: type[models.Model]) -> bool:
    """Guardian's own lookup (reverse one-to-many relations whose model subclasses ``base`` and whose
    ``content_object`` points at ``model``), done without the database so it also works before migrations."""
    for relation in model._meta.get_fields():
        related = getattr(relation, "related_model", None)
        if not ((relation.one_to_many or relation.one_to_one) and relation.auto_created and related):
            continue
        if not issubclass(related, base) or related._meta.abstract or not getattr(related, "enabled", True):
            continue
        if related._meta.label in GENERIC_MODELS:
            continue
        target = related._meta.get_field("content_object").remote_field.model  # type: ignore[union-attr]
        if target is model or target is model._meta.concrete_model:
            return True
    return False


def direct_fk_problems(model: type[models.Model]) -> list[str]:
    """Why ``model`` would fall back to guardian's generic tables (empty when it is safe)."""
    problems = []
    if not _has_direct_model(model, UserObjectPermissionBase):
        problems.append(f"{model._meta.label} has no direct-FK user object-permission model")
    if not _has_direct_model(model, GroupObjectPermissionBase):
        problems.append(f"{model._meta.label} has no direct-FK group object-permission model")
    return problems


def direct_fk_models_resolved(model: type[models.Model]) -> bool:
    """True when guardian itself (needs the database) resolves ``model`` to direct-FK models."""
    return (
        get_user_obj_perms_model(model)._meta.label not in GENERIC_MODELS  # type: ignore[arg-type]
        and get_group_obj_perms_model(model)._meta.label not in GENERIC_MODELS  # type: ignore[arg-type]
    )


@checks.register(checks.Tags.security)
def guarded_models_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """System check: every guarded tenant model has direct-FK permission models."""
    return [
        checks.Error(problem, hint="Add UserObjectPermissionBase/GroupObjectPermissionBase subclasses.", id="bdt.E001")
        for model in guarded_models()
        for problem in direct_fk_problems(model)
    ]


def _refuse_generic_rows_for_tenant_objects(sender: Any, instance: Any, **kwargs: Any) -> None:
    content_type = instance.content_type
    if content_type is not None and content_type.app_label in tenant_app_labels():
        raise ImproperlyConfigured(
            f"Refusing a generic guardian permission for {content_type.app_label}.{content_type.model}: "
            "tenant objects need direct-FK permission models (generic rows leak across schemas)."
        )


for _label in GENERIC_MODELS:  # lazy senders: the generic models are only referenced, never used
    pre_save.connect(_refuse_generic_rows_for_tenant_objects, sender=_label, dispatch_uid=f"bdt-guard-{_label}")
