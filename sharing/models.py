"""Contributions of a lab's study to a consortium (public schema: both workspaces read the same rows live).

No data is copied: the consortium's copy of the study holds catalog records whose version files are the lab's own
(same storage names, same sha256). Every use there checks the contribution at that moment (status, ceiling).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from core.fields import user_reference

SHAREABLE_LEVELS = ("count", "query", "export")


class ContributionStatus(models.TextChoices):
    OFFERED = "offered", "Offered"
    ACTIVE = "active", "Active"
    DECLINED = "declined", "Declined"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Follow(models.TextChoices):
    LATEST = "latest", "Follows new versions"
    PINNED = "pinned", "Pinned to the versions offered"


class Contribution(models.Model):
    """A lab offers one study (some datasets, demographics always) to a consortium, up to a ceiling level."""

    lab = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        on_delete=models.SET_NULL,
        related_name="contributions_made",
        help_text="None once the lab's workspace is deleted: the record stays, withdrawn (lab_slug, lab_name).",
    )
    lab_slug = models.CharField(max_length=40, blank=True, help_text="The lab's slug when it offered.")
    lab_name = models.CharField(max_length=200, blank=True, help_text="The lab's name (kept when it is deleted).")
    consortium = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        on_delete=models.SET_NULL,
        related_name="contributions_received",
        help_text="None once the consortium's workspace is deleted: the lab's record stays, withdrawn.",
    )
    consortium_slug = models.CharField(max_length=40, blank=True, help_text="The consortium's slug when offered.")
    consortium_name = models.CharField(
        max_length=200, blank=True, help_text="The consortium's name (kept when it is deleted)."
    )
    study_id = models.PositiveIntegerField(help_text="The study's id in the lab's schema.")
    study_slug = models.CharField(max_length=63)
    study_name = models.CharField(max_length=200)
    datasets = models.JSONField(default=list, help_text="Names of the contributed datasets (demographics first).")
    pinned = models.JSONField(default=dict, blank=True, help_text="Pinned: dataset name -> version number.")
    level = models.CharField(max_length=16, choices=[(level, level) for level in SHAREABLE_LEVELS])
    follow = models.CharField(max_length=16, choices=Follow.choices, default=Follow.LATEST)
    terms = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=ContributionStatus.choices, default=ContributionStatus.OFFERED, db_index=True
    )
    local_study_id = models.PositiveIntegerField(
        null=True, blank=True, db_index=True, help_text="The study's id in the consortium's schema, once accepted."
    )
    local_slug = models.CharField(max_length=63, blank=True)
    offered_by = user_reference()
    offered_at = models.DateTimeField(default=timezone.now)
    decided_by = user_reference()
    decided_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = user_reference()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    level_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-offered_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["consortium", "local_study_id"],
                condition=models.Q(local_study_id__isnull=False),
                name="contribution_unique_local_study",
            ),
            models.UniqueConstraint(
                fields=["lab", "study_id", "consortium"],
                condition=models.Q(status__in=["offered", "active"]),
                name="contribution_one_open_per_consortium",
            ),
        ]

    def __str__(self) -> str:
        consortium = self.consortium_slug or self.consortium_id
        return f"{self.study_slug} of {self.lab_slug or self.lab_id} -> {consortium} ({self.status})"

    @property
    def lab_shown(self) -> tuple[str, str]:
        """(slug, name) of the contributing lab: its workspace's while it exists, else what was kept of it."""
        if self.lab is not None:
            return self.lab.slug, self.lab.name
        return self.lab_slug, self.lab_name

    @property
    def consortium_shown(self) -> tuple[str, str]:
        """(slug, name) of the consortium: its workspace's while it exists, else what was kept of it."""
        if self.consortium is not None:
            return self.consortium.slug, self.consortium.name
        return self.consortium_slug, self.consortium_name

    @property
    def lab_governs(self) -> bool:
        """Whether the lab's workspace is there to govern the contribution: not deleted, not scheduled for deletion
        and not suspended (a suspended lab can neither withdraw, lower the ceiling nor read its usage report)."""
        return self.lab is not None and not self.lab.is_frozen

    @property
    def usable(self) -> bool:
        """Whether the consortium may use the study now: accepted, not withdrawn, and the lab's workspace governing
        it (a lab leaving the platform takes its contributions with it, a suspended lab pauses them; resuming
        brings them back)."""
        return self.status == ContributionStatus.ACTIVE and self.lab_governs


class CeilingRaise(models.Model):
    """The contributing lab let one consortium member above the ceiling (for that person only)."""

    contribution = models.ForeignKey(Contribution, on_delete=models.CASCADE, related_name="raises")
    user = user_reference(optional=False)
    level = models.CharField(max_length=16, choices=[(level, level) for level in SHAREABLE_LEVELS])
    purpose = models.TextField(blank=True)
    terms_accepted_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, default="pending", db_index=True)
    # pending | approved | denied | superseded (a later ceiling reached it); revoked (approved, then the member
    # left) | withdrawn (pending when they left, or the consortium was deleted)
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = user_reference()
    decided_at = models.DateTimeField(null=True, blank=True)
    granted_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="When an approval ends (none: until revoked); checked at every use."
    )

    class Meta:
        ordering = ["-requested_at", "-pk"]

    def __str__(self) -> str:
        return f"raise to {self.level} on contribution {self.contribution_id} ({self.status})"

    @property
    def grant_source(self) -> str:
        """The ``source`` of the grant an approval makes in the consortium."""
        return f"contribution_request:{self.pk}"

    @property
    def effective_status(self) -> str:
        """The status, with an approval whose expiry has passed shown as ``expired`` (as access requests do)."""
        ends = self.granted_expires_at
        if self.status == "approved" and ends is not None and ends <= timezone.now():
            return "expired"
        return str(self.status)
