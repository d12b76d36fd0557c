"""Teams, grants and the direct-FK guardian permission models for datasets (tenant schema).

``Grant`` is the source of truth (who, what level, why, until when, granted by whom); the guardian rows
(``DatasetUserObjectPermission`` / ``DatasetGroupObjectPermission``) mirror the live grants for tools that speak
guardian. Users and auth groups live in the public schema, so the foreign keys to them carry no database
constraint and never cascade from the public side (a collector there cannot see tenant tables).
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from access.levels import LEVEL_CHOICES, Level
from core.fields import user_reference


class Team(models.Model):
    """A tenant-local group of members that grants can name; backed by an auth Group for guardian."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=63, unique=True)
    description = models.TextField(blank=True)
    group = models.OneToOneField(
        Group, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", null=True, blank=True
    )
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(excluded_fields=["created_at"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamMember(models.Model):
    """One member of a team."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="members")
    user = user_reference(optional=False)
    added_by = user_reference()
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "user_id"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="team_member_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.team}"


class GrantSource(models.TextChoices):
    DIRECT = "direct", "Direct grant"
    STUDY_DEFAULT = "study_default", "Study default"
    ACCESS_REQUEST = "access_request", "Access request"  # stored as "access_request:<id>"


class Grant(models.Model):
    """One access grant: a level on a dataset (or every dataset of a study) to a user, a team or a role."""

    study = models.ForeignKey("datasets.Study", on_delete=models.CASCADE, related_name="grants")
    dataset = models.ForeignKey(
        "datasets.Dataset", null=True, blank=True, on_delete=models.CASCADE, related_name="grants"
    )
    user = user_reference()
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="grants")
    role = models.CharField(max_length=16, blank=True, help_text="Study-wide default for every member of a role.")
    level = models.CharField(max_length=16, choices=LEVEL_CHOICES)
    identifying = models.BooleanField(default=False, help_text="May also use columns tagged identifying.")
    expires_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    source = models.CharField(max_length=100, default=GrantSource.DIRECT)
    granted_by = user_reference()
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = user_reference()
    expiry_recorded_at = models.DateTimeField(null=True, blank=True, help_text="When the cleanup task audited it.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(user__isnull=False, team__isnull=True, role="")
                    | Q(user__isnull=True, team__isnull=False, role="")
                    | Q(user__isnull=True, team__isnull=True) & ~Q(role="")
                ),
                name="grant_exactly_one_grantee",
            ),
        ]
        indexes = [
            models.Index(fields=["study", "dataset"], name="grant_study_dataset"),
            models.Index(fields=["user"], name="grant_user"),
        ]

    def __str__(self) -> str:
        grantee = self.grantee_label
        target = self.dataset.name if self.dataset_id and self.dataset else f"all of {self.study.slug}"
        return f"{self.level} on {target} for {grantee}"

    @property
    def grantee_label(self) -> str:
        if self.user_id:
            return str(getattr(self.user, "email", self.user_id))
        if self.team_id:
            return f"team {self.team.slug}" if self.team else "team"
        return f"every {self.role}"

    def is_live(self, at: object = None) -> bool:
        """Not revoked and not expired at ``at`` (default: now)."""
        moment = at or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > moment)  # type: ignore[operator]

    @property
    def level_enum(self) -> Level:
        return Level(self.level)


class DatasetUserObjectPermission(UserObjectPermissionBase):
    """Guardian user permission on a dataset, stored next to the dataset in the tenant schema."""

    user = user_reference(optional=False, related_name=None)
    content_object = models.ForeignKey(
        "datasets.Dataset", on_delete=models.CASCADE, related_name="user_object_permissions"
    )

    class Meta(UserObjectPermissionBase.Meta):
        abstract = False


class DatasetGroupObjectPermission(GroupObjectPermissionBase):
    """Guardian group (team) permission on a dataset, stored in the tenant schema."""

    group = models.ForeignKey(Group, on_delete=models.DO_NOTHING, db_constraint=False)
    content_object = models.ForeignKey(
        "datasets.Dataset", on_delete=models.CASCADE, related_name="group_object_permissions"
    )

    class Meta(GroupObjectPermissionBase.Meta):
        abstract = False


class CountResultSet(models.Model):
    """One distinct question an aggregate-only caller was answered (``question``: its digest, derived from the
    request alone: surface, spec and dataset versions, position in the answer): the ledger of the count budget
    (``access.budget``). Rows written before questions were the unit identify a result set by its two cell keys
    (``question`` empty); they still count in their window and simply age out."""

    study = models.ForeignKey("datasets.Study", on_delete=models.CASCADE, related_name="count_result_sets")
    user = user_reference(optional=False)
    question = models.CharField(max_length=64, blank=True, default="", help_text="Digest of the question asked.")
    participants_key = models.BigIntegerField(null=True, blank=True, help_text="Legacy rows only (result sets).")
    rows_key = models.BigIntegerField(null=True, blank=True, help_text="Legacy rows only (result sets).")
    first_at = models.DateTimeField(default=timezone.now)
    last_at = models.DateTimeField(default=timezone.now)
    answers = models.PositiveIntegerField(default=1, help_text="Answers to this question (every surface).")
    last_surface = models.CharField(max_length=32, blank=True)
    last_spec_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-last_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "user", "question"], condition=~Q(question=""), name="count_question_unique"
            ),
        ]
        indexes = [models.Index(fields=["study", "user", "last_at"], name="count_result_set_window")]

    def __str__(self) -> str:
        return f"question of {self.user_id} in study {self.study_id}"


class CountBudgetReset(models.Model):
    """A steward's reset of one member's count budget on a study (the window restarts at ``reset_at``)."""

    study = models.ForeignKey("datasets.Study", on_delete=models.CASCADE, related_name="count_budget_resets")
    user = user_reference(optional=False)
    reset_by = user_reference()
    reset_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-reset_at"]
        indexes = [models.Index(fields=["study", "user", "reset_at"], name="count_budget_reset_latest")]

    def __str__(self) -> str:
        return f"budget reset of {self.user_id} in study {self.study_id}"
