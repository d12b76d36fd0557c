"""Template helpers of the study and dataset pages: histogram sparklines, numbers, sizes."""

from __future__ import annotations

import math
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from datasets.ingest import delimiter_label

register = template.Library()

SPARK_WIDTH = 96
SPARK_HEIGHT = 24


def _short(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e6 or magnitude < 1e-3:
        return f"{value:.3g}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.4g}" if magnitude < 1000 else f"{value:,.1f}"


@register.filter
def num(value: Any) -> str:
    """A number for people: thousands separators, at most four significant digits for fractions."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return _short(value)
    return str(value)


@register.filter
def pct(value: Any) -> str:
    """A percentage with one decimal (``0.04`` -> ``<0.1%``)."""
    if value is None:
        return ""
    number = float(value)
    if 0 < number < 0.1:
        return "<0.1%"
    return f"{number:.1f}%" if not number.is_integer() else f"{int(number)}%"


@register.filter
def human_bytes(size: Any) -> str:
    """``1536`` -> ``1.5 KB``."""
    try:
        value = float(size)
    except (TypeError, ValueError):
        return ""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{int(value):,} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return ""


@register.filter
def percent_of(part: Any, whole: Any) -> int:
    """Integer percentage ``part / whole`` clamped to 0..100 (progress bars)."""
    try:
        return max(0, min(100, round(100 * float(part) / float(whole))))
    except (TypeError, ValueError, ZeroDivisionError):
        return 0


@register.filter
def progress_pct(fraction: Any) -> int:
    """An ingest's progress (0..1) as a whole percentage."""
    try:
        return max(0, min(100, round(100 * float(fraction))))
    except (TypeError, ValueError):
        return 0


@register.filter
def signed(value: Any) -> str:
    """``+12`` / ``-3`` / ``±0`` with thousands separators."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    if value == 0:
        return "±0"
    return f"+{value:,}" if value > 0 else f"−{abs(value):,}"


@register.simple_tag
def sparkline(histogram: Any, label: str = "") -> SafeString:
    """An inline SVG bar chart of a histogram ``(counts, edges)``; empty when there is nothing to draw."""
    if not histogram:
        return SafeString("")
    counts, edges = histogram
    counts = [max(0.0, float(c)) for c in counts]
    if not counts or max(counts) <= 0:
        return SafeString("")
    peak = max(counts)
    width = SPARK_WIDTH / len(counts)
    gap = 1 if width > 3 else 0
    bars = []
    for index, count in enumerate(counts):
        height = 0 if count == 0 else max(1.0, (SPARK_HEIGHT - 1) * count / peak)
        lo = edges[index] if index < len(edges) else None
        hi = edges[index + 1] if index + 1 < len(edges) else None
        tip = f"{_short(lo)} – {_short(hi)}: {int(count):,}" if lo is not None and hi is not None else f"{int(count):,}"
        bars.append(
            (
                f"{index * width:.2f}",
                f"{SPARK_HEIGHT - height:.2f}",
                f"{max(width - gap, 0.5):.2f}",
                f"{height:.2f}",
                tip,
            )
        )
    rects = format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>', bars)
    span = f"{_short(edges[0])} to {_short(edges[-1])}" if len(edges) >= 2 else ""
    title = f"Distribution of {label}" + (f", {span}" if span else "") if label else "Distribution"
    return format_html(
        '<svg class="sparkline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        "<title>{}</title>{}</svg>",
        SPARK_WIDTH,
        SPARK_HEIGHT,
        SPARK_WIDTH,
        SPARK_HEIGHT,
        title,
        title,
        rects,
    )


@register.filter
def key_badge(kind: str) -> str:
    """The label of a key column role."""
    return {"id": "ID", "session": "session", "age": "age", "sex": "sex", "site": "site"}.get(kind, kind)


@register.filter
def elapsed(start: Any, end: Any) -> str:
    """How long from ``start`` to ``end`` (datetimes) for people: ``0.4 s``, ``12 s``, ``3 min 5 s``, ``2 h 4 min``."""
    if start is None or end is None:
        return "—"
    seconds = max((end - start).total_seconds(), 0.0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def separator(value: Any) -> str:
    """``;`` -> ``semicolon`` (comma, tab, pipe...) for pages."""
    return delimiter_label(str(value)) if value else "comma"
