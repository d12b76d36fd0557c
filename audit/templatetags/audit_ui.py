"""Template filters of the audit pages: event details as people read them (not Python reprs)."""

from __future__ import annotations

import json
from typing import Any

from django import template

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
