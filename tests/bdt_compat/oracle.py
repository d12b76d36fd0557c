"""BDT's semantics computed independently, in plain Python over the fixture CSV files (no platform code).

What BDT does (star join driven by demographics, filters AND-ed, a measure filter keeps only rows whose joined row
matches, inclusive ranges, sessions as text) with its BUGs fixed: site tokens split on ``;`` (and ``,``/space),
fractional ranges, the session column in long output, the composite id never output.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bdt"
ID, SESSION, COMPOSITE = "ursi", "session_num", "customID"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def number(text: str | None) -> float | None:
    if text is None or text.strip() == "":
        return None
    return float(text)


def value(text: str | None) -> Any:
    """A cell as the comparison wants it: None when empty, a float when it is a number, else the text."""
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


@dataclass
class Layout:
    """One BDT data folder: its demographics rows and measure tables."""

    name: str
    folder: Path = field(init=False)
    demographics: list[dict[str, str]] = field(init=False)
    measures: dict[str, list[dict[str, str]]] = field(init=False)

    def __post_init__(self) -> None:
        self.folder = FIXTURES / self.name
        self.demographics = read_csv(self.folder / "demographics.csv")
        self.measures = {
            path.stem: read_csv(path) for path in sorted(self.folder.glob("*.csv")) if path.stem != "demographics"
        }

    @property
    def header(self) -> list[str]:
        return list(self.demographics[0])

    @property
    def longitudinal(self) -> bool:
        """BDT's rule: the demographics header decides."""
        return ID in self.header and SESSION in self.header

    def key(self, row: dict[str, str]) -> tuple[str, ...]:
        return (row[ID], row[SESSION]) if self.longitudinal else (row[ID],)

    def partner(self, table: str, row: dict[str, str]) -> dict[str, str] | None:
        """The measure row joined to a demographics row (keys are unique in these fixtures)."""
        matches = [m for m in self.measures[table] if self.key(m) == self.key(row)]
        return matches[0] if matches else None

    def selected(
        self,
        *,
        age: tuple[float, float] | None = None,
        sessions: Iterable[str] | None = None,
        sites: Iterable[str] | None = None,
        site_column: str = "all_studies",
        ranges: Iterable[tuple[str, str, float, float]] = (),
    ) -> list[dict[str, str]]:
        """Demographics rows that pass every filter."""
        rows = []
        for row in self.demographics:
            if age is not None:
                years = number(row["age"])
                if years is None or not age[0] <= years <= age[1]:
                    continue
            if sessions is not None and row[SESSION] not in set(sessions):
                continue
            if sites is not None:
                tokens = row[site_column].replace(",", ";").replace(" ", ";").split(";")
                if not set(sites) & {t for t in tokens if t}:
                    continue
            keep = True
            for table, column, lo, hi in ranges:
                joined = row if table == "demographics" else self.partner(table, row)
                cell = number(joined[column]) if joined is not None else None
                keep = keep and cell is not None and lo <= cell <= hi
            if keep:
                rows.append(row)
        return rows

    def count(self, **filters: Any) -> tuple[int, int]:
        """(distinct participants, distinct merge keys) — BDT's live count is the second for longitudinal data."""
        rows = self.selected(**filters)
        return len({row[ID] for row in rows}), len({self.key(row) for row in rows})

    def output(self, picks: dict[str, list[str]], **filters: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Long output: id, session (longitudinal), every non-key demographics column, then the picked columns."""
        keys = {ID, SESSION, COMPOSITE}
        demo_columns = [c for c in self.header if c not in keys]
        columns = [ID, *([SESSION] if self.longitudinal else []), *demo_columns]
        for cols in picks.values():
            columns.extend(cols)
        rows = []
        for row in self.selected(**filters):
            out = [row[ID], *([row[SESSION]] if self.longitudinal else [])]
            out += [value(row[c]) for c in demo_columns]
            for table, cols in picks.items():
                joined = self.partner(table, row)
                out += [value(joined[c]) if joined is not None else None for c in cols]
            rows.append(tuple(out))
        return columns, sorted(rows, key=repr)


def normalized(rows: list[list[Any]]) -> list[tuple[Any, ...]]:
    """API result rows compared like the oracle's: numbers as floats."""
    out = []
    for row in rows:
        out.append(tuple(float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in row))
    return sorted(out, key=repr)
