"""Per-dataset access levels, ordered: metadata < count < query < export < manage."""

from __future__ import annotations

from django.db import models


class Level(models.TextChoices):
    """What a member may do with one dataset, from least to most."""

    METADATA = "metadata", "Metadata (catalog and data dictionary)"
    COUNT = "count", "Count (aggregate counts and filtering reports only)"
    QUERY = "query", "Query (row-level preview, runs, plots)"
    EXPORT = "export", "Export (downloads)"
    MANAGE = "manage", "Manage (grants and dataset settings)"

    @property
    def rank(self) -> int:
        return LEVEL_RANK[self.value]


LEVEL_RANK: dict[str, int] = {
    Level.METADATA: 1,
    Level.COUNT: 2,
    Level.QUERY: 3,
    Level.EXPORT: 4,
    Level.MANAGE: 5,
}
LEVEL_CHOICES = Level.choices
LEVELS_ASCENDING: tuple[Level, ...] = tuple(sorted(Level, key=lambda level: LEVEL_RANK[level]))


def level_parse(value: str | Level) -> Level:
    """The Level for ``value`` (ValueError for anything else)."""
    return Level(value)


def level_at_least(level: str | Level | None, minimum: str | Level) -> bool:
    """True when ``level`` is ``minimum`` or above it (None is below everything)."""
    if level is None:
        return False
    return LEVEL_RANK.get(str(level), 0) >= LEVEL_RANK[str(minimum)]


def level_max(*levels: str | Level | None) -> Level | None:
    """The highest of ``levels`` (None when all are None)."""
    present = [Level(level) for level in levels if level]
    if not present:
        return None
    return max(present, key=lambda level: LEVEL_RANK[level])


def level_min(*levels: str | Level | None) -> Level | None:
    """The lowest of ``levels``; None counts as "no access" and wins."""
    if any(not level for level in levels) or not levels:
        return None
    return min((Level(level) for level in levels if level), key=lambda level: LEVEL_RANK[level])


def level_label(level: str | Level) -> str:
    """The short name of a level (e.g. "query")."""
    return str(Level(level).value)
