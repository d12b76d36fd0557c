"""Harmonized variables (versioned), federated runs and their per-study parts (tenant schema)."""

from __future__ import annotations

from typing import Any

from django.db import models
from simple_history.models import HistoricalRecords

from core.fields import user_reference
from datasets.models import NAME_VALIDATOR, Study
from harmonization.mapping import Source, Variable
from queries.models import QueryRun


class HarmonizedVariable(models.Model):
    """A variable of the workspace: name, type, unit and label, and per study a source (``sources`` JSON, the
    contract's shape). Every change is a new revision; counts and runs pin the revisions they used."""

    name = models.CharField(max_length=63, unique=True, validators=[NAME_VALIDATOR])
    type = models.CharField(max_length=16)
    label = models.CharField(max_length=200, blank=True)
    unit = models.CharField(max_length=50, blank=True)
    sources = models.JSONField(default=list, blank=True)
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = user_reference()

    history = HistoricalRecords(excluded_fields=["created_at", "updated_at"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def as_variable(self) -> Variable:
        """The plain definition (``harmonization.mapping``)."""
        return Variable(
            name=self.name,
            type=self.type,  # type: ignore[arg-type]
            label=self.label,
            unit=self.unit,
            sources=tuple(Source(**source) for source in self.sources or []),
        )

    def definition(self) -> dict[str, Any]:
        """The contract's JSON of the variable, with its revision (what lineage pins)."""
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label,
            "unit": self.unit,
            "sources": list(self.sources or []),
            "revision": self.revision,
        }


class FederatedRun(models.Model):
    """A run across studies: one ordinary run per study (authorized, pinned and executed like any run), stacked
    into one result in harmonized units with ``study``, ``participant_id`` and ``session`` columns."""

    spec = models.JSONField(help_text="studies, filters, variables, shape as submitted")
    variables = models.JSONField(default=list, help_text="The variable definitions used, with their revisions.")
    status = models.CharField(max_length=16, default="queued")
    row_count = models.BigIntegerField(null=True, blank=True)
    columns = models.JSONField(default=list, blank=True)
    result_file = models.CharField(max_length=500, blank=True)
    result_sha256 = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"federated run {self.pk} ({self.status})"


class FederatedPart(models.Model):
    """One study's part of a federated run: its ordinary run (None when the study matches no one)."""

    federated = models.ForeignKey(FederatedRun, on_delete=models.CASCADE, related_name="parts")
    study_slug = models.CharField(max_length=63)
    run = models.ForeignKey(QueryRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    missing_variables = models.JSONField(default=list, blank=True)
    outputs = models.JSONField(default=dict, blank=True, help_text="variable -> column of the part's result")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.study_slug} of {self.federated_id}"


class AccessInquiry(models.Model):
    """A visitor of the public catalog asks to use a discoverable study (they are not a member yet): the
    workspace's owners and stewards see it and may invite them, after which they file an ordinary access request."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="inquiries")
    requester = user_reference(optional=False)
    email = models.EmailField()
    purpose = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} about {self.study_id}"
