"""Workspace quotas set by platform operators: storage, members and query runs per day.

The limits live on the tenant row (``Tenant.quota_*``), which only operators change (``tenant_quota``, the operator
console); owners cannot raise them through the workspace settings. Callers measure what is used (storage in
datasets, runs in queries, members here) and call :func:`quota_require` *before* they register anything, so a refused
upload, member or run leaves nothing behind. Past :data:`WARNING_SHARE` of a limit, pages and ``GET /api/v1/usage``
warn the owners.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from core.config import config_get
from core.errors import ApiError
from tenants.models import Tenant

WARNING_SHARE = 0.8


class Quota(StrEnum):
    STORAGE_BYTES = "storage_bytes"
    MEMBERS = "members"
    RUNS_PER_DAY = "runs_per_day"


_LABELS = {
    Quota.STORAGE_BYTES: "storage quota",
    Quota.MEMBERS: "member quota",
    Quota.RUNS_PER_DAY: "quota of query runs per day",
}
_NAMES = {Quota.STORAGE_BYTES: "Storage", Quota.MEMBERS: "Members", Quota.RUNS_PER_DAY: "Query runs today"}
# Storage answers 413 (the file is too large for what is left); members and runs 409 (the workspace is full).
_STATUS = {Quota.STORAGE_BYTES: 413, Quota.MEMBERS: 409, Quota.RUNS_PER_DAY: 409}


class QuotaExceeded(ApiError):
    """A change would take the workspace past one of its quotas; nothing was registered."""

    def __init__(self, quota: Quota, *, limit: int, used: int, requested: int) -> None:
        label = _LABELS[quota]
        super().__init__(
            _STATUS[quota],
            "quota_exceeded",
            f"This workspace's {label} ({_amount(quota, limit)}) would be exceeded: {_amount(quota, used)} used, "
            f"{_amount(quota, requested)} more requested. Ask the platform operators for a larger quota"
            + (" or delete data you no longer need." if quota == Quota.STORAGE_BYTES else "."),
            {"quota": quota.value, "limit": limit, "used": used, "requested": requested},
        )


def _amount(quota: Quota, value: int) -> str:
    if quota != Quota.STORAGE_BYTES:
        return f"{value:,}"
    return bytes_human(value)


def bytes_human(value: float) -> str:
    """``1536`` -> ``"1.5 KB"`` (binary multiples, one decimal)."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:,.0f} bytes" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} TB"  # pragma: no cover


def day_start(now: datetime | None = None) -> datetime:
    """The start (00:00 UTC) of the day runs are counted in for ``runs_per_day``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def quota_limits(tenant: Tenant) -> dict[str, int | None]:
    """The workspace's limits; ``None`` means no limit. Storage falls back to the platform's ``storage_quota_bytes``."""
    storage = tenant.quota_storage_bytes
    if storage is None:
        storage = int(config_get("storage_quota_bytes", tenant))
    return {
        Quota.STORAGE_BYTES.value: int(storage),
        Quota.MEMBERS.value: tenant.quota_members,
        Quota.RUNS_PER_DAY.value: tenant.quota_runs_per_day,
    }


def quota_require(*, tenant: Tenant, quota: Quota, used: int, requested: int = 1) -> None:
    """Raise :class:`QuotaExceeded` when ``used + requested`` passes the workspace's limit of ``quota``."""
    limit = quota_limits(tenant)[quota.value]
    if limit is not None and used + requested > limit:
        raise QuotaExceeded(quota, limit=limit, used=used, requested=requested)


@dataclass(frozen=True)
class QuotaState:
    """One quota as owners see it: used, limit, share and whether it warns (>= 80 %) or is full (>= 100 %)."""

    quota: str
    used: int
    limit: int | None

    @property
    def share(self) -> float | None:
        if self.limit is None:
            return None
        return self.used / self.limit if self.limit > 0 else 1.0

    @property
    def level(self) -> str:
        share = self.share
        if share is None:
            return "ok"
        if share >= 1:
            return "exceeded"
        return "warning" if share >= WARNING_SHARE else "ok"

    @property
    def percent(self) -> int | None:
        share = self.share
        return None if share is None else round(share * 100)

    @property
    def label(self) -> str:
        return _LABELS[Quota(self.quota)]

    def shown(self, value: int | None) -> str:
        if value is None:
            return "no limit"
        return _amount(Quota(self.quota), value)

    @property
    def name(self) -> str:
        return _NAMES[Quota(self.quota)]

    @property
    def shown_used(self) -> str:
        return self.shown(self.used)

    @property
    def shown_limit(self) -> str:
        return self.shown(self.limit)

    @property
    def message(self) -> str:
        if self.level == "ok":
            return ""
        used, limit = self.shown(self.used), self.shown(self.limit)
        if self.level == "exceeded":
            return f"The {self.label} is used up ({used} of {limit}): new work of this kind is refused."
        return f"The {self.label} is {self.percent} % used ({used} of {limit})."


def quota_states(tenant: Tenant, used: dict[str, int]) -> list[QuotaState]:
    """Every quota with what is used (``used`` maps quota names to amounts)."""
    limits = quota_limits(tenant)
    return [QuotaState(quota=q.value, used=int(used.get(q.value, 0)), limit=limits[q.value]) for q in Quota]
