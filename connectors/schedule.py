"""Sync schedules: five-field cron expressions (UTC), parsed with Celery's crontab."""

from __future__ import annotations

from datetime import datetime

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
        _crontab(text)
    except (ValueError, TypeError, IndexError):
        raise InvalidInput(
            f"{text[:100]!r} is not a cron schedule (five fields: minute hour day month weekday, e.g. '0 3 * * *').",
            code="invalid_schedule",
        ) from None
    return text


def next_run(expression: str, after: datetime) -> datetime:
    """The first time after ``after`` that ``expression`` names."""
    return after + _crontab(expression).remaining_estimate(after)
