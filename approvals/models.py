"""Access requests, data-use agreements and in-app notifications (tenant schema).

Users live in the public schema, so the foreign keys to them carry no database constraint (as in ``access``).
The grants an approved request created are the ``access.Grant`` rows whose source is ``access_request:<id>``.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from access.levels import LEVEL_CHOICES
from core.fields import user_reference


class DataUseAgreement(models.Model):
    """One version of a study's terms of use; the newest version is the one requesters accept."""

    study = models.ForeignKey("datasets.Study", on_delete=models.CASCADE, related_name="data_use_agreements")
    version = models.PositiveIntegerField()
    text = models.TextField()
    created_by = user_reference()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["study", "-version"]
        constraints = [models.UniqueConstraint(fields=["study", "version"], name="dua_unique_study_version")]

    def __str__(self) -> str:
        return f"Terms of {self.study.slug} v{self.version}"


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"


class AccessRequest(models.Model):
    """A member asks for a level on datasets of a study, for a purpose, under the study's current terms."""

    requester = user_reference(optional=False)
    study = models.ForeignKey("datasets.Study", on_delete=models.CASCADE, related_name="access_requests")
    datasets = models.ManyToManyField("datasets.Dataset", related_name="access_requests")
    level = models.CharField(max_length=16, choices=LEVEL_CHOICES)
    purpose = models.TextField()
    dua = models.ForeignKey(DataUseAgreement, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    accepted_at = models.DateTimeField(null=True, blank=True, help_text="When the requester accepted the terms.")
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    renewal_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="renewals")
    created_at = models.DateTimeField(default=timezone.now)
    decided_by = user_reference()
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    granted_level = models.CharField(max_length=16, choices=LEVEL_CHOICES, blank=True)
    granted_expires_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords(excluded_fields=["created_at"])

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="access_request_status")]

    def __str__(self) -> str:
        return f"Request #{self.pk} for {self.level} on {self.study.slug}"

    @property
    def effective_status(self) -> str:
        """The status, with approved requests whose access has ended shown as ``expired`` or ``revoked``.

        Uses the ``has_live_grants`` / ``has_expired_grants`` annotations of ``approvals.selectors`` when present.
        """
        if self.status != RequestStatus.APPROVED:
            return str(self.status)
        if self.granted_expires_at is not None and self.granted_expires_at <= timezone.now():
            return RequestStatus.EXPIRED.value
        if getattr(self, "has_live_grants", True) is False:
            return RequestStatus.EXPIRED.value if getattr(self, "has_expired_grants", False) else "revoked"
        return str(self.status)

    @property
    def grant_source(self) -> str:
        return f"access_request:{self.pk}"


class Notification(models.Model):
    """An in-app notice for one user (also sent by e-mail when it is created)."""

    user = user_reference(optional=False)
    kind = models.CharField(max_length=50)
    text = models.CharField(max_length=500)
    link = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread")]

    def __str__(self) -> str:
        return self.text
