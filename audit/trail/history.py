"""'What changed': readable configuration history of the workspace for stewards (the differ is
``core.history_diff``).

Covers studies, dataset metadata, memberships and the workspace's settings, plus access grants when the access
app records their history. Each entry names who changed what, when, and every field's old and new value.
"""

from __future__ import annotations

import json
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db.models import Model, QuerySet
from django.utils import timezone

from core.history_diff import FieldChange, HistoryItem, history_items, people_resolve
from tenants.models import Membership, Tenant, User

SKIPPED_FIELDS = {"id", "history_id", "history_date", "history_change_reason", "history_type", "history_user"}
KINDS = ("study", "dataset", "membership", "settings", "grant")
MAX_SHOWN_CHARS = 300


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return (
            timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
            if timezone.is_aware(value)
            else f"{value:%Y-%m-%d %H:%M}"
        )
    if isinstance(value, dict | list):
        shown = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    else:
        shown = str(value)
    return shown if len(shown) <= MAX_SHOWN_CHARS else shown[: MAX_SHOWN_CHARS - 1] + "…"


def _field_names(record: Any, skip: set[str]) -> list[str]:
    return [f.attname for f in record._meta.fields if f.name not in SKIPPED_FIELDS and f.name not in skip]


def _label(record: Any, field_name: str) -> str:
    try:
        return str(record._meta.get_field(field_name.removesuffix("_id")).verbose_name)
    except Exception:  # noqa: BLE001 - a field only the history table has
        return field_name


class _Names:
    """Readable names of related objects (a study's name, a person's e-mail) instead of their ids, cached."""

    def __init__(self) -> None:
        self._cache: dict[tuple[type[Model], Any], str] = {}

    def of(self, model: type[Model], pk: Any) -> str:
        key = (model, pk)
        if key not in self._cache:
            obj = model._default_manager.filter(pk=pk).first()
            if obj is None:
                self._cache[key] = f"#{pk} (deleted)"
            elif model._meta.label == "datasets.Dataset":
                self._cache[key] = str(getattr(obj, "name", obj))
            else:
                self._cache[key] = str(obj)
        return self._cache[key]

    def value(self, record: Any, name: str, value: Any) -> Any:
        """The value of field ``name`` (an attname) as shown: related objects by name, others unchanged."""
        if value is None or not name.endswith("_id"):
            return value
        try:
            model_field = record._meta.get_field(name.removesuffix("_id"))
        except Exception:  # noqa: BLE001 - a field only the history table has
            return value
        related = getattr(model_field, "related_model", None)
        if not getattr(model_field, "is_relation", False) or related is None:
            return value
        return self.of(related, value)


def _items(
    records: list[Any], kind: str, label: Any, skip: AbstractSet[str] = frozenset(), resolver: _Names | None = None
) -> list[HistoryItem]:
    """History items of one model's records (oldest first): every changed field, related objects by name."""
    names = resolver or _Names()

    def changes(record: Any, before: Any, action: str) -> list[FieldChange]:
        found: list[FieldChange] = []
        for name in _field_names(record, set(skip)):
            new = getattr(record, name)
            old = getattr(before, name) if before is not None else None
            if before is None and new in (None, "", {}, [], False):
                continue
            if before is not None and old == new:
                continue
            if isinstance(old, dict) or isinstance(new, dict):  # a JSON object: one line per key that changed
                found.extend(_key_changes(_label(record, name), old, new))
                continue
            found.append(
                FieldChange(
                    field=_label(record, name),
                    old=_text(names.value(record, name, old)),
                    new=_text(names.value(record, name, new)),
                )
            )
        return found

    return history_items(records, kind=kind, label=label, changes=changes)


def _key_changes(label: str, old: Any, new: Any) -> list[FieldChange]:
    """The keys of a JSON object field that changed, each as its own line (``settings: max_columns``)."""
    before = old if isinstance(old, dict) else {}
    after = new if isinstance(new, dict) else {}
    return [
        FieldChange(field=f"{label}: {key}", old=_text(before.get(key)), new=_text(after.get(key)))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


def _ordered(queryset: QuerySet[Any], limit: int) -> list[Any]:
    """The newest ``limit`` records, oldest first (so each is compared with the one before it)."""
    newest = list(queryset.order_by("-history_date", "-history_id")[:limit])
    newest.reverse()
    return newest


def _grant_model() -> type[Model] | None:
    try:
        model = apps.get_model("access", "Grant")
    except LookupError:
        return None
    return model if hasattr(model, "history") else None


def configuration_history(*, tenant: Tenant, kind: str | None = None, limit: int = 2000) -> list[HistoryItem]:
    """Every recorded configuration change of the current workspace (optionally one ``kind``), newest first."""
    from datasets.models import Dataset, Study

    studies = {record.id: record.slug for record in Study.history.all()}  # type: ignore[attr-defined]
    wanted = set(KINDS) if not kind else {kind}
    items: list[HistoryItem] = []
    if "study" in wanted:
        items += _items(_ordered(Study.history.all(), limit), "study", lambda r: r.slug)  # type: ignore[attr-defined]
    if "dataset" in wanted:
        items += _items(
            _ordered(Dataset.history.all(), limit),  # type: ignore[attr-defined]
            "dataset",
            lambda r: f"{studies.get(r.study_id, '?')}/{r.name}",
        )
    if "membership" in wanted:
        records = _ordered(Membership.history.filter(tenant_id=tenant.pk), limit)  # type: ignore[attr-defined]
        emails = dict(User.objects.filter(pk__in={r.user_id for r in records}).values_list("pk", "email"))
        items += _items(
            records,
            "membership",
            lambda r: emails.get(r.user_id, f"user {r.user_id}"),
            skip={"tenant", "user", "created_at"},
        )
    if "settings" in wanted:
        items += _items(
            _ordered(Tenant.history.filter(id=tenant.pk), limit),  # type: ignore[attr-defined]
            "settings",
            lambda r: r.name,
            skip={"schema_name", "created_at"},
        )
    grant = _grant_model()
    if "grant" in wanted and grant is not None:
        names = _Names()
        items += _items(
            _ordered(grant.history.all(), limit),  # type: ignore[attr-defined]
            "grant",
            lambda r: _grant_label(r, names),
            resolver=names,
        )
    people_resolve(items)
    items.sort(key=lambda item: item.at, reverse=True)
    return items


def _grant_label(record: Any, names: _Names) -> str:
    """``query on demo-study/cognitive for ana@example.org`` for a grant's history record."""
    from datasets.models import Dataset, Study

    team_model = apps.get_model("access", "Team")
    study = names.of(Study, record.study_id) if record.study_id else "?"
    target = f"{study} / {names.of(Dataset, record.dataset_id)}" if record.dataset_id else f"all of {study}"
    if record.user_id:
        grantee = names.of(User, record.user_id)
    elif record.team_id:
        grantee = f"team {names.of(team_model, record.team_id)}"
    else:
        grantee = f"every {record.role or 'member'}"
    return f"{record.level} on {target} for {grantee}"
