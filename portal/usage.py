"""Reading usage: a workspace's numbers now and over the last days, with its quotas (owners and operators)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Sum
from django_tenants.utils import schema_context

from portal.metering import storage_gauges
from portal.models import UsageDay
from queries.models import QueryRun
from tenants.models import Membership, Tenant
from tenants.quotas import QuotaState, day_start, quota_limits, quota_states

WINDOW_DAYS = 30


def usage_now(tenant: Tenant) -> dict[str, int]:
    """What the workspace keeps and has done today, measured live (the numbers quotas are checked against)."""
    with schema_context(tenant.schema_name):
        gauges = storage_gauges()
        runs_today = QueryRun.objects.filter(created_at__gte=day_start(), reused_from__isnull=True).count()
    return {**gauges, "members": Membership.objects.filter(tenant=tenant).count(), "runs_today": runs_today}


def _window_totals(tenant: Tenant, days: int = WINDOW_DAYS) -> dict[str, Any]:
    since = day_start().date() - timedelta(days=days - 1)
    totals = UsageDay.objects.filter(tenant=tenant, day__gte=since).aggregate(
        counts=Sum("counts"), runs=Sum("runs"), exports=Sum("exports"), compute=Sum("compute_seconds")
    )
    return {
        "counts_30d": int(totals["counts"] or 0),
        "runs_30d": int(totals["runs"] or 0),
        "exports_30d": int(totals["exports"] or 0),
        "compute_seconds_30d": round(float(totals["compute"] or 0.0), 3),
    }


def quota_states_now(tenant: Tenant, now: dict[str, int]) -> list[QuotaState]:
    used = {"storage_bytes": now["storage_bytes"], "members": now["members"], "runs_per_day": now["runs_today"]}
    return quota_states(tenant, used)


def usage_summary(tenant: Tenant) -> dict[str, Any]:
    """The contract's usage document (``GET /api/v1/usage``), plus today's runs and the quotas' states."""
    now = usage_now(tenant)
    states = quota_states_now(tenant, now)
    return {
        "storage_bytes": now["storage_bytes"],
        "datasets": now["datasets"],
        "members": now["members"],
        **_window_totals(tenant),
        "runs_today": now["runs_today"],
        "quota": quota_limits(tenant),
        "quotas": [
            {"quota": s.quota, "used": s.used, "limit": s.limit, "percent": s.percent, "level": s.level} for s in states
        ],
        "warnings": [s.message for s in states if s.level != "ok"],
    }


@dataclass(frozen=True)
class Series:
    """One metric per day over the window (gauges carried forward over days without a change)."""

    key: str
    title: str
    days: list[date]
    values: list[float]


SERIES = (
    ("storage_bytes", "Storage (bytes)", True),
    ("datasets", "Datasets", True),
    ("members", "Members", True),
    ("counts", "Counts", False),
    ("runs", "Query runs", False),
    ("exports", "Exports", False),
    ("compute_seconds", "Compute seconds", False),
)


def usage_series(tenant: Tenant, days: int = WINDOW_DAYS) -> list[Series]:
    """Every metric over the last ``days`` days, today's gauges measured live."""
    today = day_start().date()
    first = today - timedelta(days=days - 1)
    rows = {row.day: row for row in UsageDay.objects.filter(tenant=tenant, day__gte=first)}
    before = UsageDay.objects.filter(tenant=tenant, day__lt=first).order_by("-day").first()
    now = usage_now(tenant)
    calendar = [first + timedelta(days=offset) for offset in range(days)]
    result = []
    for key, title, gauge in SERIES:
        values: list[float] = []
        last = float(getattr(before, key) or 0) if before is not None and gauge else 0.0
        for day in calendar:
            row = rows.get(day)
            value = getattr(row, key) if row is not None else None
            if gauge:
                last = float(value) if value is not None else last
                values.append(float(now[key]) if day == today else last)
            else:
                values.append(float(value or 0))
        result.append(Series(key=key, title=title, days=calendar, values=values))
    return result
