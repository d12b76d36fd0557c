"""The rows of a dataset page's column table: type, profile numbers, histogram and top values as the reader may
see them (``access.catalog.CatalogView``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from access.catalog import CatalogView
from datasets.models import Dataset, DatasetVersion, Sensitivity, Study


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _histogram(raw: Any) -> tuple[list[float], list[float]] | None:
    """(counts, edges) from a column profile's histogram, whatever its exact stored shape."""
    if isinstance(raw, dict):
        counts = raw.get("counts") or raw.get("values") or []
        edges = raw.get("edges") or raw.get("bins") or raw.get("bin_edges") or []
    elif isinstance(raw, list) and raw and isinstance(raw[0], dict):  # [{"lo", "hi", "count"}...]
        counts = [item.get("count", 0) for item in raw]
        edges = [item.get("lo", item.get("start")) for item in raw] + [raw[-1].get("hi", raw[-1].get("end"))]
    else:
        return None
    try:
        return [float(c) for c in counts], [float(e) for e in edges if e is not None]
    except (TypeError, ValueError):
        return None


def _top_values(raw: Any) -> list[tuple[str, Any]]:
    """[(value, count)] from a column profile's top values ([{"value", "count"}], [[v, c]] or {v: c})."""
    items: list[tuple[str, Any]] = []
    if isinstance(raw, dict):
        items = [(str(key), value) for key, value in raw.items()]
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict):
                items.append((str(item.get("value", "")), item.get("count")))
            elif isinstance(item, list | tuple) and len(item) == 2:
                items.append((str(item[0]), item[1]))
            else:
                items.append((str(item), None))
    return items


@dataclass
class ColumnRow:
    """One line of the data dictionary as the dataset page shows it."""

    name: str
    type: str
    missing: int | None
    missing_pct: float | None
    distinct: int | None
    min: Any
    max: Any
    mean: float | None
    std: float | None
    top_values: list[tuple[str, Any]] = field(default_factory=list)
    histogram: tuple[list[float], list[float]] | None = None
    description: str = ""
    sensitivity: str = ""
    is_key: str = ""

    @property
    def is_numeric(self) -> bool:
        return self.type in {"integer", "float", "number", "numeric", "double", "bigint"}

    @property
    def values_hidden(self) -> bool:
        """Participant ids and columns tagged identifying: no example values (min, max, top values) on the page."""
        return self.is_key == "id" or self.sensitivity == "identifying"

    @property
    def sensitivity_label(self) -> str:
        return str(dict(Sensitivity.choices).get(self.sensitivity, self.sensitivity)) if self.sensitivity else ""


def column_rows(
    study: Study,
    dataset: Dataset,
    version: DatasetVersion,
    profiles: list[dict[str, Any]] | None = None,
    row_count: int | None = None,
) -> list[ColumnRow]:
    """The data dictionary of ``version`` (profiles from the version, descriptions and tags from the dataset).

    ``profiles`` / ``row_count``: the version's column profiles and row count as the reader may see them
    (``access.catalog.CatalogView``; below ``query`` every number is under the disclosure rules); default exact."""
    keys = {
        study.id_column: "id",
        study.session_column: "session",
        study.age_column: "age",
        study.sex_column: "sex",
        study.site_column: "site",
    }
    total = version.row_count if profiles is None else row_count
    rows: list[ColumnRow] = []
    for column in version.columns if profiles is None else profiles:
        name = str(column.get("name", ""))
        missing = column.get("missing")
        missing_pct = 100.0 * float(missing) / total if isinstance(missing, int | float) and total else None
        rows.append(
            ColumnRow(
                name=name,
                type=str(column.get("type", "")),
                missing=missing,
                missing_pct=missing_pct,
                distinct=column.get("distinct"),
                min=column.get("min"),
                max=column.get("max"),
                mean=_number(column.get("mean")),
                std=_number(column.get("std")),
                top_values=_top_values(column.get("top_values") or column.get("top")),
                histogram=_histogram(column.get("histogram")),
                description=dataset.column_description(name),
                sensitivity=dataset.column_sensitivity(name),
                is_key=keys.get(name, "") if name else "",
            )
        )
    return rows


def column_rows_for_view(study: Study, dataset: Dataset, version: DatasetVersion, view: CatalogView) -> list[ColumnRow]:
    """The dictionary rows of ``version`` as the caller of ``view`` may see them."""
    return column_rows(
        study, dataset, version, view.profiles(dataset.name, version), view.total(dataset.name, version).rows
    )
