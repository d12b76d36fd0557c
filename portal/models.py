"""Usage of each workspace per day (public schema): counters of what happened and gauges of what is kept."""

from __future__ import annotations

from django.db import models

from tenants.models import Tenant


class UsageDay(models.Model):
    """One workspace's usage on one day (UTC). Counters add up; gauges are the value after the day's last change."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    counts = models.PositiveIntegerField(default=0)
    runs = models.PositiveIntegerField(default=0)
    exports = models.PositiveIntegerField(default=0)
    compute_seconds = models.FloatField(default=0.0)
    storage_bytes = models.BigIntegerField(null=True, blank=True)
    datasets = models.PositiveIntegerField(null=True, blank=True)
    members = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["tenant", "day"]
        constraints = [models.UniqueConstraint(fields=["tenant", "day"], name="usageday_unique_tenant_day")]

    def __str__(self) -> str:
        return f"{self.tenant} on {self.day}"
