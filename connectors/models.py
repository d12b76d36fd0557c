"""Connections (per workspace, secrets encrypted at rest), syncs binding a study dataset to a source, and runs."""

from __future__ import annotations

from django.db import models

from core.fields import user_reference
from datasets.models import DatasetKind, DatasetVersion, IngestJob, Study


class Connection(models.Model):
    """Where data comes from: a connector kind, its config (shown) and its secret (encrypted, never shown)."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32)
    config = models.JSONField(default=dict)
    secret_token = models.TextField(blank=True, help_text="The secret fields as one encrypted token (Fernet).")
    secret_fields = models.JSONField(default=list, blank=True, help_text="Names of the secret fields that are set.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = user_reference()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Sync(models.Model):
    """A study dataset fed from one source of a connection, on demand or on a schedule."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="syncs")
    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="syncs")
    source = models.CharField(max_length=500)
    dataset_name = models.CharField(max_length=63)
    kind = models.CharField(max_length=16, choices=DatasetKind.choices)
    schedule = models.CharField(max_length=100, blank=True, help_text="Cron expression (UTC); blank = on demand.")
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    columns = models.JSONField(
        default=list, blank=True, help_text="The source's columns at the last successful pull: [[name, type], ...]."
    )
    drift = models.JSONField(
        default=dict, blank=True, help_text="Schema drift waiting for a steward's confirmation (empty = none)."
    )
    last_good_version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = user_reference()

    class Meta:
        ordering = ["study", "dataset_name"]
        constraints = [models.UniqueConstraint(fields=["study", "dataset_name"], name="sync_unique_dataset")]

    def __str__(self) -> str:
        return f"{self.connection.name}:{self.source} -> {self.dataset_name}"


class SyncRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "New version"
    UNCHANGED = "unchanged", "Unchanged"
    DRIFT = "drift", "Schema drift"
    FAILED = "failed", "Failed"


class SyncRun(models.Model):
    """One pull of a sync: the ingest job it fed, the version it made (if any), drift and the row diff."""

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=16, default="manual")  # manual | schedule
    status = models.CharField(max_length=16, choices=SyncRunStatus.choices, default=SyncRunStatus.QUEUED)
    ingest = models.ForeignKey(IngestJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    version = models.ForeignKey(DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rows = models.BigIntegerField(null=True, blank=True)
    columns = models.JSONField(default=list, blank=True, help_text="The source's columns at this pull.")
    drift = models.JSONField(default=dict, blank=True)
    diff = models.JSONField(default=dict, blank=True, help_text="Rows added, removed and changed since last version.")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = user_reference()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"run {self.pk} of sync {self.sync_id} ({self.status})"
