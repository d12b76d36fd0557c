"""Inline SVG bar charts of usage series (no script, readable without JavaScript)."""

from __future__ import annotations

from dataclasses import dataclass

from portal.usage import Series
from tenants.quotas import bytes_human

WIDTH, HEIGHT, PAD = 600, 120, 2


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    total: str
    latest: str
    bars: list[Bar]
    width: int = WIDTH
    height: int = HEIGHT
    first_day: str = ""
    last_day: str = ""


def _shown(key: str, value: float) -> str:
    if key == "storage_bytes":
        return bytes_human(value)
    if key == "compute_seconds":
        return f"{value:,.1f} s"
    return f"{value:,.0f}"


def chart_of(series: Series) -> Chart:
    """One chart: a bar per day, scaled to the largest value (an empty series draws no bars)."""
    peak = max(series.values, default=0.0)
    slot = WIDTH / max(len(series.values), 1)
    bars = []
    for index, (day, value) in enumerate(zip(series.days, series.values, strict=True)):
        height = 0.0 if peak <= 0 else (HEIGHT - PAD) * value / peak
        bars.append(
            Bar(
                x=round(index * slot + 1, 2),
                y=round(HEIGHT - height, 2),
                width=round(max(slot - 2, 1), 2),
                height=round(height, 2),
                title=f"{day:%Y-%m-%d}: {_shown(series.key, value)}",
            )
        )
    gauge = series.key in {"storage_bytes", "datasets", "members"}
    return Chart(
        key=series.key,
        title=series.title,
        total="" if gauge else _shown(series.key, sum(series.values)),
        latest=_shown(series.key, series.values[-1] if series.values else 0),
        bars=bars,
        first_day=f"{series.days[0]:%Y-%m-%d}" if series.days else "",
        last_day=f"{series.days[-1]:%Y-%m-%d}" if series.days else "",
    )
