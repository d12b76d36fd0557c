"""Query runs (with the dataset versions they pinned) and saved queries (tenant schema)."""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from core.fields import user_reference
from datasets.models import DatasetVersion, Study


class OrderedJSONField(models.JSONField):  # type: ignore[type-arg]
    """JSON kept as the text it was saved as, so object key order survives (PostgreSQL ``jsonb`` re-orders keys).

    A QuerySpec's ``columns`` object is ordered: its key order is the output column order and part of the spec
    hash. The column is ``text``; key lookups (``spec__...``) are not supported on it.
    """

    def db_type(self, connection: Any) -> str:
        return "text"

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is None:
            return None
        return json.dumps(value, cls=self.encoder, ensure_ascii=False, allow_nan=False)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or not isinstance(value, str):
            return value
        return json.loads(value, cls=self.decoder)


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class QueryRun(models.Model):
    """One execution of a QuerySpec on pinned dataset versions; its result is a Parquet file in storage."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="runs")
    spec = OrderedJSONField(help_text="The QuerySpec as submitted (key order kept: it is the column order).")
    spec_hash = models.CharField(max_length=64, db_index=True)
    cache_key = models.CharField(max_length=64, db_index=True, help_text="spec hash + pinned version hashes")
    shape = models.CharField(max_length=8, default="long")
    engine = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    cancel_requested = models.BooleanField(default=False)
    row_count = models.BigIntegerField(null=True, blank=True)
    columns = models.JSONField(default=list, blank=True)
    column_types = models.JSONField(default=list, blank=True)
    result_file = models.CharField(max_length=500, blank=True)
    result_sha256 = models.CharField(max_length=64, blank=True)
    result_size = models.BigIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    reused_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Result shared from."
    )
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns")
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status not in ACTIVE_STATUSES


class QueryRunVersion(models.Model):
    """A dataset version a run read (lineage: the exact bytes, by sha256)."""

    run = models.ForeignKey(QueryRun, on_delete=models.CASCADE, related_name="pinned")
    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="run_links")
    dataset_name = models.CharField(max_length=63)
    number = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["dataset_name"]
        constraints = [models.UniqueConstraint(fields=["run", "dataset_name"], name="run_version_unique_dataset")]

    def __str__(self) -> str:
        return f"{self.dataset_name} v{self.number}"


class SavedQuery(models.Model):
    """A named QuerySpec, private to its owner or shared with the workspace."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="saved_queries")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    spec = OrderedJSONField(help_text="The QuerySpec as saved (key order kept: it is the column order).")
    owner = user_reference(optional=False)
    shared = models.BooleanField(default=False, help_text="Visible to every member of the workspace.")
    is_draft = models.BooleanField(default=False, help_text="The query builder's working state.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class QueryExport(models.Model):
    """A download of a run's result (lineage: which file, for what stated purpose, by whom)."""

    run = models.ForeignKey(QueryRun, on_delete=models.PROTECT, related_name="exports")
    format = models.CharField(max_length=16)
    filename = models.CharField(max_length=255)
    rows = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    purpose = models.TextField()
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.format} export of run {self.run_id}"
