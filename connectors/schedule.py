"""Sync schedules: five-field cron expressions (UTC), parsed with Celery's crontab."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from celery.schedules import crontab

from core.errors import InvalidInput


def _crontab(expression: str) -> crontab:
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError("five fields")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year, day_of_week=day_of_week
    )


def schedule_clean(expression: str | None) -> str:
    """A valid cron expression (normalized spacing) or blank; 422 ``invalid_schedule`` otherwise."""
    text = " ".join(str(expression or "").split())
    if not text:
        return ""
    try:
        next_run(text, datetime.now(tz=UTC))
    except (ValueError, TypeError, IndexError):
        raise InvalidInput(
            f"{text[:100]!r} is not a cron schedule (five fields: minute hour day month weekday, e.g. '0 3 * * *').",
            code="invalid_schedule",
        ) from None
    return text


def next_run(expression: str, after: datetime) -> datetime:
    """The first whole minute after ``after`` that ``expression`` names (day of month and weekday must both match,
    as in Celery's crontab)."""
    cron: Any = _crontab(expression)  # its parsed fields are sets of numbers
    start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for offset in range(366 * 5):
        day = (start + timedelta(days=offset)).date()
        if (
            day.month not in cron.month_of_year
            or day.day not in cron.day_of_month
            or (day.weekday() + 1) % 7 not in cron.day_of_week
        ):
            continue
        for hour in sorted(cron.hour):
            for minute in sorted(cron.minute):
                moment = datetime.combine(day, time(hour, minute), tzinfo=after.tzinfo)
                if moment >= start:
                    return moment
    raise ValueError(f"{expression!r} never runs")
