"""Studies, datasets and their immutable versions, and the ingest jobs that create versions (tenant schema)."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.validators import RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from core.fields import user_reference

NAME_VALIDATOR = RegexValidator(
    r"^[a-z][a-z0-9_]{0,62}$",
    "Use 1-63 lower-case letters, digits or underscores, starting with a letter.",
)
STUDY_SLUG_VALIDATOR = RegexValidator(
    r"^[a-z][a-z0-9-]{0,62}$",
    "Use 1-63 lower-case letters, digits or hyphens, starting with a letter.",
)


class Engine(models.TextChoices):
    DUCKDB = "duckdb", "DuckDB (Parquet files)"
    POSTGRES = "postgres", "PostgreSQL (tables in the workspace schema)"
    SPARK = "spark", "Spark (Parquet files, local or on a cluster)"


class DatasetKind(models.TextChoices):
    DEMOGRAPHICS = "demographics", "Demographics"
    MEASURE = "measure", "Measure"


class Sensitivity(models.TextChoices):
    NONE = "", "—"
    IDENTIFYING = "identifying", "Identifying"
    SENSITIVE = "sensitive", "Sensitive"


_M = TypeVar("_M", bound=models.Model)


class LiveManager(models.Manager[_M]):
    """Rows not deleted (the catalog, new queries). ``all_objects`` also sees tombstones (lineage, audit)."""

    def get_queryset(self) -> models.QuerySet[_M]:
        return super().get_queryset().filter(deleted_at__isnull=True)


class Study(models.Model):
    """A study: its key columns (id, optional session -> longitudinal), its tables, and per-study settings."""

    slug = models.SlugField(max_length=63, unique=True, validators=[STUDY_SLUG_VALIDATOR])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    id_column = models.CharField(max_length=255, blank=True, help_text="Participant identifier column.")
    session_column = models.CharField(max_length=255, blank=True, help_text="Visit/session column; set = longitudinal.")
    age_column = models.CharField(max_length=255, blank=True)
    sex_column = models.CharField(max_length=255, blank=True)
    site_column = models.CharField(max_length=255, blank=True, help_text="Site/substudy membership (multi-valued).")
    composite_id_column = models.CharField(
        max_length=255,
        blank=True,
        help_text="BDT's derived <id>_<session> column (e.g. customID): checked, never a data column.",
    )
    default_age_min = models.FloatField(null=True, blank=True, help_text="Builder default: lower age bound.")
    default_age_max = models.FloatField(null=True, blank=True, help_text="Builder default: upper age bound.")
    display_rows = models.PositiveIntegerField(
        null=True, blank=True, help_text="Builder default: result rows shown per preview page."
    )
    demographics = models.ForeignKey(
        "Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="The driving table."
    )
    engine = models.CharField(max_length=16, choices=Engine.choices, default=Engine.DUCKDB)
    suppression_threshold = models.PositiveIntegerField(
        null=True, blank=True, help_text="Small-cell threshold k for aggregate-only callers (default: workspace's)."
    )
    allow_duplicate_keys = models.BooleanField(
        default=False, help_text="Measure tables may hold several rows per merge key."
    )
    discoverable = models.BooleanField(
        default=False, help_text="Listed in the platform's public discovery catalog (owner or steward opt-in)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = user_reference()

    history = HistoricalRecords(excluded_fields=["created_at"])

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.name

    @property
    def is_longitudinal(self) -> bool:
        return bool(self.session_column)

    @property
    def keys_confirmed(self) -> bool:
        return bool(self.id_column)

    def merge_key(self) -> list[str]:
        """The columns that identify a row: id, or id + session for longitudinal studies."""
        return [self.id_column, self.session_column] if self.session_column else [self.id_column]

    def key_columns(self) -> dict[str, str]:
        """Role -> column of every key column in use (id, session, age, sex, site, composite id)."""
        roles = ("id_column", "session_column", "age_column", "sex_column", "site_column", "composite_id_column")
        return {role: getattr(self, role) for role in roles if getattr(self, role)}


class Dataset(models.Model):
    """A table of a study (demographics or a measure); its content lives in immutable versions."""

    # Object permissions live in access.DatasetUserObjectPermission / DatasetGroupObjectPermission (direct FK).
    object_permissions_guarded = True

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=63, validators=[NAME_VALIDATOR])
    kind = models.CharField(max_length=16, choices=DatasetKind.choices, default=DatasetKind.MEASURE)
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    column_meta = models.JSONField(
        default=dict, blank=True, help_text='{"<column>": {"description": "...", "sensitivity": "identifying"}}'
    )
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Tombstone: hidden from the catalog.")
    deleted_by = user_reference()

    objects = LiveManager()
    all_objects = models.Manager()  # noqa: DJ012 - the first manager (objects) must stay the default

    history = HistoricalRecords(excluded_fields=["created_at"])

    class Meta:
        ordering = ["study", "kind", "name"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="dataset_unique_name_in_study")]

    def __str__(self) -> str:
        return self.title or self.name

    def latest_version(self) -> DatasetVersion | None:
        return self.versions.order_by("-number").first()

    def column_description(self, column: str) -> str:
        return str(self.column_meta.get(column, {}).get("description", ""))

    def column_sensitivity(self, column: str) -> str:
        return str(self.column_meta.get(column, {}).get("sensitivity", ""))


class DatasetVersion(models.Model):
    """One immutable upload of a dataset: original bytes (sha256), Parquet, schema and statistics."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    parquet_sha256 = models.CharField(max_length=64)
    original_filename = models.CharField(max_length=255)
    original_file = models.CharField(max_length=500, help_text="Storage name of the original bytes.")
    parquet_file = models.CharField(max_length=500, help_text="Storage name of the Parquet file.")
    size_bytes = models.BigIntegerField()
    parquet_size_bytes = models.BigIntegerField()
    encoding = models.CharField(max_length=32, default="utf-8")
    delimiter = models.CharField(max_length=1, default=",", help_text="The separator the file was read with.")
    delimiter_detected = models.BooleanField(default=False, help_text="The separator was detected, not given.")
    row_count = models.BigIntegerField()
    participants = models.BigIntegerField(default=0)
    sessions = models.JSONField(default=list, blank=True)
    columns = models.JSONField(default=list, help_text="Column profiles: name, type, missing, distinct, min, max...")
    warnings = models.JSONField(default=list, blank=True)
    diff = models.JSONField(default=dict, blank=True, help_text="Schema diff against the previous version.")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = user_reference()
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Tombstone: not used by new queries.")
    deleted_by = user_reference()
    files_removed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when a deleted version's files were removed (no run had read them)."
    )

    objects = LiveManager()
    all_objects = models.Manager()  # noqa: DJ012 - the first manager (objects) must stay the default

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [models.UniqueConstraint(fields=["dataset", "number"], name="version_unique_number")]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.number}"

    def column_names(self) -> list[str]:
        return [column["name"] for column in self.columns]

    def column(self, name: str) -> dict[str, Any] | None:
        return next((column for column in self.columns if column["name"] == name), None)


class IngestStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class IngestJob(models.Model):
    """The background job that turns one uploaded file into a dataset version (or fails, registering nothing)."""

    study = models.ForeignKey(
        Study,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="ingests",
        help_text="Empty while the job creates its study (set in the transaction that registers it).",
    )
    new_study = models.JSONField(
        default=dict,
        blank=True,
        help_text="The study this job creates with its demographics version: slug, name, keys, defaults.",
    )
    dataset_name = models.CharField(max_length=63)
    kind = models.CharField(max_length=16, choices=DatasetKind.choices)
    title = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    original_filename = models.CharField(max_length=255)
    staged_file = models.CharField(max_length=500, blank=True, help_text="Storage name of the uploaded bytes.")
    size_bytes = models.BigIntegerField(default=0)
    encoding = models.CharField(max_length=32, blank=True, help_text="Declared encoding (blank = UTF-8).")
    delimiter = models.CharField(max_length=1, blank=True, help_text="Requested separator (blank = detect).")
    delimiter_used = models.CharField(
        max_length=1, blank=True, help_text="The separator the file was read with (set when the ingest succeeds)."
    )
    status = models.CharField(max_length=16, choices=IngestStatus.choices, default=IngestStatus.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=32, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_details = models.JSONField(default=dict, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    version = models.ForeignKey(DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = user_reference()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"ingest {self.pk} of {self.dataset_name} ({self.status})"

    @property
    def study_slug(self) -> str:
        """The study's slug, also while the job is still creating the study."""
        return self.study.slug if self.study is not None else str(self.new_study.get("slug", ""))

    @property
    def is_finished(self) -> bool:
        return self.status in {IngestStatus.SUCCEEDED, IngestStatus.FAILED}
