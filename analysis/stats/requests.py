"""The analysis request (``POST /queries/{id}/analysis`` body) and its dispatch to the statistics."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from analysis.stats.crosstab import crosstab
from analysis.stats.distribution import describe
from analysis.stats.errors import StatsError
from analysis.stats.groups import anova, groups_split, ttests
from analysis.stats.loading import Frame, frame_load, pair_counts
from analysis.stats.numbers import as_float_array, require_numeric
from analysis.stats.regression import ols

Column = Annotated[str, Field(min_length=1, max_length=500)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OlsRequest(_Request):
    kind: Literal["ols"]
    x: Column
    y: Column


class DescribeRequest(_Request):
    kind: Literal["describe"]
    column: Column


class AnovaRequest(_Request):
    kind: Literal["anova"]
    value: Column
    group: Column


class TtestsRequest(_Request):
    kind: Literal["ttests"]
    value: Column
    group: Column


class CrosstabRequest(_Request):
    kind: Literal["crosstab"]
    row: Column
    column: Column


AnalysisRequest = Annotated[
    OlsRequest | DescribeRequest | AnovaRequest | TtestsRequest | CrosstabRequest, Field(discriminator="kind")
]
KINDS = ("ols", "describe", "anova", "ttests", "crosstab")
_adapter: TypeAdapter[Any] = TypeAdapter(AnalysisRequest)


def request_parse(data: Any) -> Any:
    """A validated request, or ``StatsError`` (``invalid_kind`` / ``invalid_request``) naming the problem."""
    if not isinstance(data, dict) or data.get("kind") not in KINDS:
        raise StatsError("invalid_kind", f"kind must be one of {', '.join(KINDS)}.", {"kinds": list(KINDS)})
    try:
        return _adapter.validate_python(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in error["loc"][1:]), "message": error["msg"]}
            for error in exc.errors(include_url=False, include_input=False)
        ]
        fields = ", ".join(p["field"] for p in problems)
        raise StatsError("invalid_request", f"Invalid analysis request ({fields}).", {"problems": problems}) from None


def request_columns(request: Any) -> list[str]:
    """The result columns a request reads."""
    if isinstance(request, OlsRequest):
        return [request.x, request.y]
    if isinstance(request, DescribeRequest):
        return [request.column]
    if isinstance(request, AnovaRequest | TtestsRequest):
        return [request.value, request.group]
    return [request.row, request.column]


@dataclass(frozen=True)
class Limits:
    """Tenant limits the statistics respect (from the platform configuration)."""

    sample_rows: int
    max_groups: int


def analysis_compute(request: Any, frame: Frame, limits: Limits) -> dict[str, Any]:
    """Run one analysis on a loaded frame; the answer carries ``kind`` and what it was computed on."""
    types = frame.types

    def numeric(name: str) -> Any:
        require_numeric(name, types[name])
        return as_float_array(frame.columns[name])

    if isinstance(request, OlsRequest):
        result = ols(numeric(request.x), numeric(request.y), x_name=request.x, y_name=request.y)
    elif isinstance(request, DescribeRequest):
        result = describe(numeric(request.column), name=request.column)
    elif isinstance(request, AnovaRequest | TtestsRequest):
        values = numeric(request.value)
        split = groups_split(
            values,
            frame.columns[request.group],
            value_name=request.value,
            group_name=request.group,
            max_groups=limits.max_groups,
        )
        result = anova(split) if isinstance(request, AnovaRequest) else ttests(split)
    else:
        raise TypeError("crosstabs are computed by analysis_run over every row")
    return {"kind": request.kind, **result, "sample": frame.sample_info()}


def analysis_run(
    data: Any, path: Path, types: dict[str, str], limits: Limits, *, reader: Callable[[], AbstractContextManager[Any]]
) -> dict[str, Any]:
    """Parse ``data``, read the needed columns of the result at ``path`` (sampled above the limit), compute.

    Crosstabs are exact counts over every row (computed in DuckDB).
    """
    request = request_parse(data)
    columns = request_columns(request)
    for name in columns:
        if name not in types:
            raise StatsError("unknown_column", f"{name!r} is not a column of this result.", {"column": name})
    if isinstance(request, CrosstabRequest):
        pairs = pair_counts(path, request.row, request.column, max_pairs=limits.max_groups**2, reader=reader)
        table = crosstab(
            pairs,
            row_name=request.row,
            column_name=request.column,
            max_levels=limits.max_groups,
        )
        total = sum(n for _, _, n in pairs)
        return {"kind": request.kind, **table, "sample": {"rows": total, "used": total, "sampled": False}}
    frame = frame_load(path, columns, types, limit=limits.sample_rows)
    return analysis_compute(request, frame, limits)
