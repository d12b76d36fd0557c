"""The one history differ: readable changes of objects recorded by django-simple-history.

:func:`history_items` walks one model's history records (oldest first), compares each with the previous record of
the same object, and keeps creations, deletions and changes that changed something; how a record's changes read
(which fields, their labels and shown values) is the caller's. :func:`people_resolve` turns the recorded user ids
into e-mail addresses. The study history page (``studies``) and the workspace's configuration history
(``audit.trail``) both stand on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model

ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


@dataclass
class FieldChange:
    """One field's old and new value, as text."""

    field: str
    old: str
    new: str


@dataclass
class HistoryItem:
    """One recorded change of an object: who, when, what, and its field changes."""

    at: datetime
    who: str  # a user id until people_resolve, then an e-mail address ("system": nobody)
    kind: str
    label: str
    action: str
    changes: list[FieldChange] = field(default_factory=list)


#: (record, the previous record of the same object or None, action) -> the record's field changes.
ChangesOf = Callable[[Any, Any, str], list[FieldChange]]


def history_items(
    records: list[Any], *, kind: str, label: Callable[[Any], str], changes: ChangesOf
) -> list[HistoryItem]:
    """History items of one model's records (given oldest first): each compared with the previous record of its
    object; a ``changed`` record whose changes are empty is left out."""
    items: list[HistoryItem] = []
    previous: dict[Any, Any] = {}
    for record in records:
        action = ACTIONS.get(record.history_type, record.history_type)
        found = changes(record, previous.get(record.id), action)
        previous[record.id] = record
        if action == "changed" and not found:
            continue
        items.append(
            HistoryItem(
                at=record.history_date,
                who=str(record.history_user_id or ""),
                kind=kind,
                label=str(label(record)),
                action=action,
                changes=found,
            )
        )
    return items


def people_resolve(items: list[HistoryItem]) -> None:
    """Replace the user ids in ``who`` by e-mail addresses (``a deleted user``; ``system`` when nobody)."""
    ids = {int(item.who) for item in items if item.who}
    emails = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "email")) if ids else {}
    for item in items:
        item.who = emails.get(int(item.who), "a deleted user") if item.who else "system"
