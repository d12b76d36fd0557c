"""Profile jobs: a profile report of a run's result, built on a worker with progress (tenant schema)."""

from __future__ import annotations

from django.db import models

from core.fields import user_reference
from queries.models import QueryRun


class ProfileStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ProfileJob(models.Model):
    """One profile report of a run's result; ``report`` holds the JSON once it succeeded."""

    run = models.ForeignKey(QueryRun, on_delete=models.CASCADE, related_name="profiles")
    status = models.CharField(max_length=16, choices=ProfileStatus.choices, default=ProfileStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=200, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    report = models.JSONField(null=True, blank=True)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"profile {self.pk} of run {self.run_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ProfileStatus.SUCCEEDED, ProfileStatus.FAILED)
