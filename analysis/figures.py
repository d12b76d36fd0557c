"""Plotly figures of a result (Django-free): scatter, histogram, box, violin, density heatmap, with the statistics
shown beside them. Every scatter point carries its row key (row number in the result file) as ``customdata``, so a
selection maps back to rows by key, never by a point's index within a trace."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from analysis.stats.distribution import describe, kde_curve
from analysis.stats.errors import StatsError
from analysis.stats.groups import anova, groups_split, label, ttests
from analysis.stats.loading import Frame
from analysis.stats.numbers import NUMERIC_TYPES, as_float_array, require_numeric
from analysis.stats.regression import ols

MISSING = "(missing)"
WEBGL_FROM = 5_000  # points per figure from which scatter uses WebGL
PANEL_HEIGHT = 420
FACET_COLUMNS = 3

Kind = Literal["scatter", "histogram", "box", "violin", "heatmap"]


class PlotOptions(BaseModel):
    """What to draw. Slots: x (scatter/heatmap x, histogram variable, box/violin category), y (scatter/heatmap y,
    box/violin value), color, size (scatter), facet."""

    model_config = ConfigDict(extra="ignore")

    kind: Kind = "scatter"
    x: str = Field("", max_length=500)
    y: str = Field("", max_length=500)
    color: str = Field("", max_length=500)
    size: str = Field("", max_length=500)
    facet: str = Field("", max_length=500)
    trendline: bool = True
    kde: bool = False
    bandwidth: Literal["scott", "silverman", "manual"] = "scott"
    factor: float = Field(1.0, ge=0.1, le=5.0)
    mean_line: bool = True
    median_line: bool = True
    bins: int = Field(30, ge=2, le=200)


def options_parse(data: dict[str, Any]) -> PlotOptions:
    """Validated plot options (empty form fields mean 'none'), or StatsError ``invalid_options``."""
    cleaned = {k: v for k, v in data.items() if v not in ("", None)}
    for flag in ("trendline", "kde", "mean_line", "median_line"):
        if isinstance(cleaned.get(flag), str):
            cleaned[flag] = cleaned[flag].lower() in {"1", "true", "on", "yes"}
    try:
        return PlotOptions.model_validate(cleaned)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors(include_url=False))
        raise StatsError("invalid_options", f"Invalid plot options ({fields}).") from None


def columns_needed(options: PlotOptions) -> list[str]:
    """The result columns a figure reads (each once, in slot order)."""
    slots = [options.x, options.y, options.color, options.facet]
    if options.kind == "scatter":
        slots.append(options.size)
    return [name for name in dict.fromkeys(slots) if name]


@dataclass(frozen=True)
class Limits:
    """Configured limits of a figure."""

    max_groups: int
    max_facets: int


def _require(options: PlotOptions, slot: str, what: str) -> str:
    name = str(getattr(options, slot))
    if not name:
        raise StatsError("missing_column", f"Choose a column for {what}.", {"slot": slot})
    return name


def _categories(values: Sequence[Any]) -> list[str]:
    return [MISSING if v is None or (isinstance(v, float) and math.isnan(v)) else label(v) for v in values]


def _levels(values: Sequence[str], name: str, maximum: int, code: str, what: str) -> list[str]:
    levels = sorted(set(values), key=lambda t: (t == MISSING, _num_key(t), t))
    if len(levels) > maximum:
        raise StatsError(
            code,
            f"Column {name!r} has {len(levels)} distinct values; at most {maximum} {what} can be drawn.",
            {"column": name, "values": len(levels), "maximum": maximum},
        )
    return levels


def _equal(values: Sequence[str], level: str) -> npt.NDArray[np.bool_]:
    """Which of ``values`` equal ``level`` (vectorised: figures of many points split into traces quickly)."""
    return np.asarray(values, dtype=object) == level


def _plain(value: Any) -> Any:
    """A figure's JSON form with plain lists: arrays go to plotly as numpy (its per-element validation of Python lists
    dominated the time of a 50,000-point figure) and become lists here, NaN as null like plotly's JSON encoder."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            return [None if math.isnan(v) or math.isinf(v) else v for v in value.tolist()]
        return [_plain(item) for item in value.tolist()] if value.dtype.kind == "O" else value.tolist()
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def _num_key(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf


class _Canvas:
    """A figure with one panel per facet value."""

    def __init__(self, facets: list[str], facet_name: str) -> None:
        self.facets = facets or [""]
        count = len(self.facets)
        self.cols = min(FACET_COLUMNS, count)
        self.rows = math.ceil(count / self.cols)
        titles = [f"{facet_name} = {f}" for f in self.facets] if facets else None
        self.figure = make_subplots(
            rows=self.rows, cols=self.cols, subplot_titles=titles, horizontal_spacing=0.08, vertical_spacing=0.12
        )
        self.figure.update_layout(height=PANEL_HEIGHT if self.rows == 1 else 320 * self.rows)

    def cell(self, facet: str) -> dict[str, int]:
        index = self.facets.index(facet) if facet in self.facets else 0
        return {"row": index // self.cols + 1, "col": index % self.cols + 1}


def _base(frame: Frame, options: PlotOptions, limits: Limits) -> tuple[list[str], list[str], _Canvas]:
    facet_values = _categories(frame.columns[options.facet]) if options.facet else [""] * frame.size
    facets = (
        _levels(facet_values, options.facet, limits.max_facets, "too_many_facets", "facet panels")
        if options.facet
        else []
    )
    return facet_values, facets, _Canvas(facets, options.facet)


def _numeric(frame: Frame, name: str) -> Any:
    require_numeric(name, frame.types[name])
    return as_float_array(frame.columns[name])


def _stat(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """A statistic for the side panel; when it cannot be computed, the reason instead (the plot still draws)."""
    try:
        return dict(fn(*args, **kwargs))
    except StatsError as exc:
        return {"unavailable": exc.message, "code": exc.code}


def _scatter(frame: Frame, options: PlotOptions, limits: Limits) -> tuple[go.Figure, dict[str, Any]]:
    x_name, y_name = _require(options, "x", "the x axis"), _require(options, "y", "the y axis")
    x, y = _numeric(frame, x_name), _numeric(frame, y_name)
    keep = ~(np.isnan(x) | np.isnan(y))
    size = None
    if options.size:
        size = _numeric(frame, options.size)
        keep &= ~np.isnan(size)
    if not keep.any():
        raise StatsError("all_missing", f"No row has values for both {x_name!r} and {y_name!r}.")
    facet_values, _facets, canvas = _base(frame, options, limits)
    numeric_color = bool(options.color) and frame.types[options.color] in NUMERIC_TYPES
    color_values = _categories(frame.columns[options.color]) if options.color and not numeric_color else None
    colors = (
        _levels(color_values, options.color, limits.max_groups, "too_many_groups", "colours") if color_values else [""]
    )
    trace_type = go.Scattergl if int(keep.sum()) >= WEBGL_FROM else go.Scatter
    marker_sizes = None
    if size is not None:
        shifted = size - np.nanmin(size[keep]) + 1 if np.nanmin(size[keep]) < 0 else size + 1
        marker_sizes = shifted
    index = np.arange(frame.size)
    for facet in canvas.facets:
        in_panel = keep & _equal(facet_values, facet) if options.facet else keep
        for color in colors:
            mask = in_panel & _equal(color_values, color) if color_values else in_panel
            if not mask.any():
                continue
            rows = index[mask]
            marker: dict[str, Any] = {"opacity": 0.75}
            if marker_sizes is not None:
                peak = float(np.nanmax(marker_sizes[keep]))
                marker.update(size=marker_sizes[rows], sizemode="area", sizeref=2.0 * peak / 30**2)
            if numeric_color:
                marker.update(
                    color=as_float_array(frame.columns[options.color])[rows],
                    colorscale="Viridis",
                    showscale=facet == canvas.facets[0],
                    colorbar={"title": {"text": options.color}},
                )
            canvas.figure.add_trace(
                trace_type(
                    x=x[rows],
                    y=y[rows],
                    mode="markers",
                    name=color or "points",
                    legendgroup=color or "points",
                    showlegend=bool(color_values) and facet == canvas.facets[0],
                    customdata=frame.keys[rows],
                    marker=marker,
                    hovertemplate=f"{x_name}=%{{x}}<br>{y_name}=%{{y}}<br>row %{{customdata}}<extra></extra>",
                ),
                **canvas.cell(facet),
            )
        if options.trendline:
            panel = _stat(ols, x[in_panel], y[in_panel], x_name=x_name, y_name=y_name)
            if "slope" in panel:
                ends = np.array([np.min(x[in_panel]), np.max(x[in_panel])])
                canvas.figure.add_trace(
                    go.Scatter(
                        x=ends.tolist(),
                        y=(panel["slope"] * ends + panel["intercept"]).tolist(),
                        mode="lines",
                        line={"dash": "dash", "color": "#d62728"},
                        name=f"Trend (R² = {panel['r_squared']:.3f})" + (f", {facet}" if facet else ""),
                        hoverinfo="skip",
                    ),
                    **canvas.cell(facet),
                )
    canvas.figure.update_xaxes(title_text=x_name)
    canvas.figure.update_yaxes(title_text=y_name)
    canvas.figure.update_layout(dragmode="select")
    stats = {"ols": _stat(ols, x, y, x_name=x_name, y_name=y_name), "points": int(keep.sum())}
    return canvas.figure, stats


def _histogram(frame: Frame, options: PlotOptions, limits: Limits) -> tuple[go.Figure, dict[str, Any]]:
    name = _require(options, "x", "the variable")
    values = _numeric(frame, name)
    keep = ~np.isnan(values)
    if not keep.any():
        raise StatsError("all_missing", f"Column {name!r} has no values (all missing).", {"column": name})
    facet_values, _facets, canvas = _base(frame, options, limits)
    color_values = _categories(frame.columns[options.color]) if options.color else None
    colors = (
        _levels(color_values, options.color, limits.max_groups, "too_many_groups", "colours") if color_values else [""]
    )
    norm = "probability density" if options.kde else ""
    kde_notes = []
    left_out = 0
    for facet in canvas.facets:
        in_panel = keep & _equal(facet_values, facet) if options.facet else keep
        for color in colors:
            mask = in_panel & _equal(color_values, color) if color_values else in_panel
            if not mask.any():
                continue
            if norm and color == MISSING:  # each trace is scaled to area 1: a few rows would dwarf the others
                left_out += int(mask.sum())
                continue
            canvas.figure.add_trace(
                go.Histogram(
                    x=values[mask],
                    nbinsx=options.bins,
                    histnorm=norm,
                    name=color or name,
                    legendgroup=color or name,
                    showlegend=bool(color_values) and facet == canvas.facets[0],
                    opacity=0.65 if color_values else 0.85,
                ),
                **canvas.cell(facet),
            )
        panel = values[in_panel]
        if panel.size == 0:
            continue
        if options.kde:
            try:
                curve = kde_curve(panel, options.bandwidth, options.factor)
                canvas.figure.add_trace(
                    go.Scatter(x=curve["x"], y=curve["y"], mode="lines", name="KDE", line={"color": "#333"}),
                    **canvas.cell(facet),
                )
            except StatsError as exc:
                kde_notes.append(exc.message)
        if options.mean_line:
            canvas.figure.add_vline(x=float(panel.mean()), line_dash="dash", line_color="#d62728", **canvas.cell(facet))
        if options.median_line:
            canvas.figure.add_vline(
                x=float(np.median(panel)), line_dash="dot", line_color="#2ca02c", **canvas.cell(facet)
            )
    canvas.figure.update_layout(barmode="overlay")
    canvas.figure.update_xaxes(title_text=name)
    canvas.figure.update_yaxes(title_text="density" if options.kde else "count")
    stats: dict[str, Any] = {"describe": _stat(describe, values, name=name)}
    if kde_notes:
        stats["kde_note"] = kde_notes[0]
    if left_out:
        stats["color_note"] = (
            f"{left_out} row{'s' if left_out != 1 else ''} without a {options.color} value "
            "are left out of the density view (a small group would dominate its scale); counts show them."
        )
    return canvas.figure, stats


def _groups(frame: Frame, options: PlotOptions, limits: Limits) -> tuple[go.Figure, dict[str, Any]]:
    category = _require(options, "x", "the category")
    value_name = _require(options, "y", "the value")
    values = _numeric(frame, value_name)
    categories = _categories(frame.columns[category])
    _levels(categories, category, limits.max_groups, "too_many_groups", "groups")
    keep = ~np.isnan(values)
    if not keep.any():
        raise StatsError("all_missing", f"Column {value_name!r} has no values (all missing).")
    facet_values, _facets, canvas = _base(frame, options, limits)
    color_values = _categories(frame.columns[options.color]) if options.color else None
    colors = (
        _levels(color_values, options.color, limits.max_groups, "too_many_groups", "colours") if color_values else [""]
    )
    trace = go.Box if options.kind == "box" else go.Violin
    cats = np.array(categories, dtype=object)
    for facet in canvas.facets:
        in_panel = keep & _equal(facet_values, facet) if options.facet else keep
        for color in colors:
            mask = in_panel & _equal(color_values, color) if color_values else in_panel
            if not mask.any():
                continue
            extra: dict[str, Any] = {"boxmean": True} if options.kind == "box" else {"box_visible": True}
            canvas.figure.add_trace(
                trace(
                    x=cats[mask],
                    y=values[mask],
                    name=color or value_name,
                    legendgroup=color or value_name,
                    showlegend=bool(color_values) and facet == canvas.facets[0],
                    **extra,
                ),
                **canvas.cell(facet),
            )
    if color_values:
        canvas.figure.update_layout(boxmode="group", violinmode="group")
    canvas.figure.update_xaxes(title_text=category, type="category")
    canvas.figure.update_yaxes(title_text=value_name)
    present = [None if c == MISSING else c for c in categories]
    stats: dict[str, Any] = {}
    try:
        split = groups_split(values, present, value_name=value_name, group_name=category, max_groups=limits.max_groups)
        stats["anova"] = _stat(anova, split)
        stats["ttests"] = _stat(ttests, split)
    except StatsError as exc:
        stats["anova"] = {"unavailable": exc.message, "code": exc.code}
    return canvas.figure, stats


def _heatmap(frame: Frame, options: PlotOptions, limits: Limits) -> tuple[go.Figure, dict[str, Any]]:
    x_name, y_name = _require(options, "x", "the x axis"), _require(options, "y", "the y axis")
    x, y = _numeric(frame, x_name), _numeric(frame, y_name)
    keep = ~(np.isnan(x) | np.isnan(y))
    if not keep.any():
        raise StatsError("all_missing", f"No row has values for both {x_name!r} and {y_name!r}.")
    facet_values, _facets, canvas = _base(frame, options, limits)
    for facet in canvas.facets:
        mask = keep & _equal(facet_values, facet) if options.facet else keep
        if not mask.any():
            continue
        canvas.figure.add_trace(
            go.Histogram2d(
                x=x[mask],
                y=y[mask],
                nbinsx=options.bins,
                nbinsy=options.bins,
                colorscale="Blues",
                showscale=facet == canvas.facets[0],
            ),
            **canvas.cell(facet),
        )
    canvas.figure.update_xaxes(title_text=x_name)
    canvas.figure.update_yaxes(title_text=y_name)
    return canvas.figure, {"ols": _stat(ols, x, y, x_name=x_name, y_name=y_name), "points": int(keep.sum())}


BUILDERS = {"scatter": _scatter, "histogram": _histogram, "box": _groups, "violin": _groups, "heatmap": _heatmap}


def figure_build(frame: Frame, options: PlotOptions, limits: Limits) -> dict[str, Any]:
    """``{"figure": plotly JSON, "stats": {...}, "sample": {...}}`` for the options on a loaded frame."""
    figure, stats = BUILDERS[options.kind](frame, options, limits)
    figure.update_layout(
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.15},
    )
    # Trace and layout JSON keep numpy arrays as they are (the figure's own JSON turns them into base64 typed arrays).
    parts = {"data": [trace.to_plotly_json() for trace in figure.data], "layout": figure.layout.to_plotly_json()}
    return {
        "figure": _plain(parts),
        "stats": stats,
        "sample": frame.sample_info(),
        "kind": options.kind,
    }
