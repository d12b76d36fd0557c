"""Schema difference between two versions of a dataset (shown before a new version is confirmed).

Columns are matched by exact name (names are kept as uploaded, so ``Age`` -> ``age`` is one removed and one added
column; such pairs are listed in ``renamed_case`` as a hint). Column lists may be :class:`ColumnProfile` objects,
mappings with ``name`` and ``type`` keys (the stored JSON), or ``(name, type)`` pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class _NamedTyped(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...


ColumnLike = _NamedTyped | Mapping[str, Any] | tuple[str, str]


@dataclass(frozen=True)
class Retyped:
    name: str
    from_type: str
    to_type: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "from": self.from_type, "to": self.to_type}


@dataclass(frozen=True)
class SchemaDiff:
    added: list[str]
    removed: list[str]
    retyped: list[Retyped]
    old_rows: int
    new_rows: int
    reordered: bool = False
    renamed_case: list[tuple[str, str]] = field(default_factory=list)

    @property
    def row_change(self) -> int:
        return self.new_rows - self.old_rows

    @property
    def schema_changed(self) -> bool:
        return bool(self.added or self.removed or self.retyped)

    @property
    def has_changes(self) -> bool:
        return self.schema_changed or self.reordered or self.row_change != 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "retyped": [r.as_dict() for r in self.retyped],
            "old_rows": self.old_rows,
            "new_rows": self.new_rows,
            "row_change": self.row_change,
            "reordered": self.reordered,
            "renamed_case": [list(pair) for pair in self.renamed_case],
        }


def _pairs(columns: Iterable[ColumnLike]) -> list[tuple[str, str]]:
    out = []
    for column in columns:
        if isinstance(column, tuple):
            name, type_ = column
        elif isinstance(column, Mapping):
            name, type_ = column["name"], column["type"]
        else:
            name, type_ = column.name, column.type
        out.append((str(name), str(type_)))
    return out


def schema_diff(
    old_columns: Iterable[ColumnLike], new_columns: Iterable[ColumnLike], old_rows: int, new_rows: int
) -> SchemaDiff:
    """Added, removed and retyped columns (in column order), column order change and row count change."""
    old = _pairs(old_columns)
    new = _pairs(new_columns)
    old_types = dict(old)
    new_types = dict(new)
    added = [name for name, _ in new if name not in old_types]
    removed = [name for name, _ in old if name not in new_types]
    retyped = [
        Retyped(name, old_types[name], type_) for name, type_ in new if name in old_types and old_types[name] != type_
    ]
    common_old = [name for name, _ in old if name in new_types]
    common_new = [name for name, _ in new if name in old_types]
    lowered_added = {name.lower(): name for name in added}
    renamed_case = [(name, lowered_added[name.lower()]) for name in removed if name.lower() in lowered_added]
    return SchemaDiff(
        added=added,
        removed=removed,
        retyped=retyped,
        old_rows=int(old_rows),
        new_rows=int(new_rows),
        reordered=common_old != common_new,
        renamed_case=renamed_case,
    )
