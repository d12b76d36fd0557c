"""Template filters of the audit pages: event details as people read them (not Python reprs)."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.apps import apps

register = template.Library()


@register.filter
def detail_value(value: Any) -> str:
    """``yes`` / ``no`` for booleans, ``—`` for nothing, JSON for lists and objects, text otherwise."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


@register.filter
def target_kind(target_type: str) -> str:
    """``datasets.study`` -> ``study``, ``approvals.accessrequest`` -> ``access request`` (the model's own name)."""
    try:
        return str(apps.get_model(target_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return target_type.rsplit(".", 1)[-1]


@register.filter
def action_words(action: str) -> str:
    """``access_request.approved`` -> ``access request approved``."""
    return action.replace(".", " ").replace("_", " ")
