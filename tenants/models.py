"""Public-schema models: tenants and their domains, global users, memberships and API tokens."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django_tenants.models import DomainMixin, TenantMixin
from simple_history.models import HistoricalRecords

from tenants.roles import Role
from tenants.token_scopes import TokenScope

SLUG_VALIDATOR = RegexValidator(
    r"^[a-z][a-z0-9-]{1,39}$",
    "Use 2-40 lower-case letters, digits or hyphens, starting with a letter.",
)


class UserManager(BaseUserManager["User"]):
    """Users are identified by e-mail address."""

    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person; global across tenants (one login can be a member of several labs/consortia)."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May use the platform admin (public host).")
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class WorkspaceKind(models.TextChoices):
    """What a workspace is for: a lab keeps its own studies; a consortium gathers studies labs share with it."""

    LAB = "lab", "Lab"
    CONSORTIUM = "consortium", "Consortium"


def frozen_q(prefix: str = "") -> models.Q:
    """Workspaces suspended or scheduled for deletion (``prefix``: the path to the workspace, e.g. ``"lab__"``): they
    answer 403 to everyone, so nobody governs what they hold; their work stops, they leave the catalog and their
    contributions pause."""
    return models.Q(**{f"{prefix}suspended_at__isnull": False}) | models.Q(**{f"{prefix}delete_after__isnull": False})


class Tenant(TenantMixin):
    """A lab, enterprise or consortium: one PostgreSQL schema of its own."""

    slug = models.SlugField(max_length=40, unique=True, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=WorkspaceKind.choices, default=WorkspaceKind.LAB)
    settings = models.JSONField(default=dict, blank=True, help_text="Per-tenant overrides of platform settings.")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by platform operators only (tenant_quota, the operator console); null = the platform default / no limit.
    quota_storage_bytes = models.BigIntegerField(null=True, blank=True, help_text="Storage quota (bytes).")
    quota_members = models.PositiveIntegerField(null=True, blank=True, help_text="Most members.")
    quota_runs_per_day = models.PositiveIntegerField(null=True, blank=True, help_text="Most query runs per day (UTC).")
    suspended_at = models.DateTimeField(null=True, blank=True, help_text="Suspended: every request answers 403.")
    suspended_reason = models.CharField(max_length=300, blank=True)
    delete_after = models.DateTimeField(
        null=True, blank=True, help_text="Scheduled deletion: the schema and files are removed after this moment."
    )

    auto_create_schema = True
    auto_drop_schema = False

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_public(self) -> bool:
        return self.schema_name == "public"

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None

    @property
    def is_frozen(self) -> bool:
        """Suspended or scheduled for deletion (:func:`frozen_q`), as this object was read."""
        return self.suspended_at is not None or self.delete_after is not None

    def primary_domain_name(self) -> str | None:
        domain = self.domains.filter(is_primary=True).first() or self.domains.first()  # type: ignore[attr-defined]
        return domain.domain if domain else None


class Domain(DomainMixin):
    """A host name that resolves to a tenant."""


class Membership(models.Model):
    """A user's role in one tenant."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANALYST)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="membership_unique_user_tenant")]
        ordering = ["tenant__name", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.role})"


class ApiToken(models.Model):
    """A personal access token bound to one tenant; only its SHA-256 digest is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part shown in listings.")
    digest = models.CharField(max_length=64, help_text="SHA-256 of the secret part.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(
        max_length=8,
        choices=TokenScope.choices,
        default=TokenScope.FULL,
        help_text="full, read (read-only) or count (count-level surfaces only); tenants/token_scopes.py.",
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        help_text="The token that created this one (it never outlives its parent).",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"


class Invitation(models.Model):
    """A pending invitation of an e-mail address to a tenant with a role; the secret is stored as SHA-256 only."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANALYST)
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the accept-link secret.")
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "email"], name="invitation_tenant_email")]

    def __str__(self) -> str:
        return f"{self.email} to {self.tenant} ({self.role})"

    @property
    def status(self) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"
