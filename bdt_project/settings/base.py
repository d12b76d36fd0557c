"""Settings shared by every environment. Values that differ per deployment come from the environment."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from bdt_project.env import env_load
from bdt_project.settings.object_storage import default_storage_backend
from core.config import config_get

env_load()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
STATE_DIR = Path(os.environ.get("BDT_STATE_DIR", BASE_DIR / ".bdt"))


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable (1/true/yes/on)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    """Read a comma-separated environment variable."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def derived_fernet_key(secret: str) -> str:
    """A Fernet key derived from ``secret`` (development and tests only: production sets BDT_CONNECTOR_KEYS)."""
    return base64.urlsafe_b64encode(hashlib.sha256(f"bdt-connectors|{secret}".encode()).digest()).decode()


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,.localhost")

# --- Tenancy -------------------------------------------------------------------------------------------------
# Users, sessions, allauth, guardian and membership live in the public schema (users are global). Tenant data lives
# in one schema per tenant. ``audit`` is in both lists: platform events go to public, tenant events to the tenant.
SHARED_APPS = [
    "django_tenants",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "django.contrib.humanize",
    "guardian",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "simple_history",
    "django_htmx",
    "ninja",
    "audit",
    "backups",
    "demo",
    "sharing",
    "portal",
]
TENANT_APPS = [
    "datasets",
    "queries",
    "audit",
    "access",
    "approvals",
    "analysis",
    "connectors",
    "harmonization",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_DOMAIN = os.environ.get("BDT_PUBLIC_DOMAIN", "platform.localhost").strip().lower()
# Workspaces created on the platform host are served at <slug>.<WORKSPACE_DOMAIN> (empty: the platform host without
# its first label, e.g. platform.localhost -> <slug>.localhost).
WORKSPACE_DOMAIN = os.environ.get("BDT_WORKSPACE_DOMAIN", "").strip().lower()
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False
# Set search_path once per connection and schema switch, not on every cursor (the connection resets it after a
# rollback); docs/performance-history.md §3 counted 10 SET statements per cached count request without it.
TENANT_LIMIT_SET_CALLS = True
ROOT_URLCONF = "bdt_project.urls_tenant"
PUBLIC_SCHEMA_URLCONF = "bdt_project.urls_public"

AUTH_USER_MODEL = "tenants.User"

MIDDLEWARE = [
    "bdt_project.middleware.RequestIdMiddleware",
    "core.monitoring.middleware.RequestMonitoringMiddleware",
    "bdt_project.middleware.ApiErrorShapeMiddleware",
    "bdt_project.middleware.HealthShortcutMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files answer on any host, before tenant resolution
    "bdt_project.middleware.TenantMiddleware",
    "tenants.middleware.SuspendedWorkspaceMiddleware",
    "datasets.uploads.UploadLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.DeniedRequestAuditMiddleware",  # sees every 403/404 below it (pages and API)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "tenants.middleware.MembershipMiddleware",
    "tenants.middleware.MfaRequiredMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.tenant_context",
                "approvals.context_processors.notifications_context",
            ],
        },
    },
]

WSGI_APPLICATION = "bdt_project.wsgi.application"

# --- Database, cache, broker ---------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bdt")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_FUNCTION": "core.cache_keys.make_key",  # per schema, identity state platform-wide
        "REVERSE_KEY_FUNCTION": "core.cache_keys.reverse_key",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 5},
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- Celery (tenant-schemas-celery runs each task in the caller's schema) -------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = [Queue("default"), Queue("ingest"), Queue("queries"), Queue("interactive")]
CELERY_TASK_ROUTES = {
    "datasets.tasks.ingest_run": {"queue": "ingest"},
    "queries.tasks.query_run_execute_task": {"queue": "queries"},
    "queries.tasks.interactive_*": {"queue": "interactive"},
    "harmonization.tasks.federated_run_advance": {"queue": "queries"},  # stacks the parts' results
    "connectors.tasks.sync_run_task": {"queue": "ingest"},
    "queries.tasks.participant_store_build": {"queue": "ingest"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Tasks are acknowledged when they start, and a worker fetches a message only when a child is free: nothing waits
# unacknowledged in a worker. A run or ingest is never executed twice (its own row says whether it ran; a lost
# worker is recorded by the main process or the reapers), and a Redis restart leaves no in-flight message for
# kombu to restore (restoring them on a lost connection crashed the worker, kombu 5.7). Fetching only when free
# also lets the fair order of runs (priorities) decide at the moment a child can take work.
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_DISABLE_PREFETCH = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Ten priority levels on Redis (0 first): a workspace's first waiting run overtakes another's backlog
# (queries.run_queue).
CELERY_BROKER_TRANSPORT_OPTIONS = {"priority_steps": list(range(10))}
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "ingest-reaper": {"task": "datasets.tasks.ingest_reap_all", "schedule": 60.0, "options": {"queue": "default"}},
    "setup-upload-purge": {
        "task": "datasets.tasks.setup_uploads_purge_all",
        "schedule": 3600.0,
        "options": {"queue": "default"},
    },
    "query-reaper": {"task": "queries.tasks.query_runs_reap_all", "schedule": 60.0, "options": {"queue": "default"}},
    "grant-expiry": {"task": "access.tasks.grants_expire_all", "schedule": 60.0, "options": {"queue": "default"}},
    "workspace-purge": {
        "task": "portal.tasks.workspaces_purge_due",
        "schedule": 3600.0,
        "options": {"queue": "default"},
    },
    "syncs-due": {"task": "connectors.tasks.syncs_due_all", "schedule": 60.0, "options": {"queue": "default"}},
    "federated-runs": {
        "task": "harmonization.tasks.federated_runs_advance_all",
        "schedule": 60.0,
        "options": {"queue": "default"},
    },
}

# --- Authentication --------------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # allauth's e-mail sign-in, counting verified addresses only (tenants/auth_backends.py)
    "tenants.auth_backends.VerifiedEmailBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Guardian: no anonymous user (every access is by a member); tenant models use direct-FK permission models only.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

ACCOUNT_ADAPTER = "tenants.adapters.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
# An address counts only once verified (docs/permissions.md, "Identity"): sign-in needs a verified address, one
# address per account, and a new address replaces the old one only after its confirmation link is opened.
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_FORMS = {
    "reset_password": "tenants.forms.VerifiedResetPasswordForm",
    "signup": "tenants.forms.InvitationSignupForm",
}
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_PRESERVE_USERNAME_CASING = False
ACCOUNT_RATE_LIMITS = {"login_failed": config_get("login_failed_rate_limit")}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "BDT Platform"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/accounts/login/"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("DJANGO_EMAIL_FILE_PATH", str(STATE_DIR / "mail"))
EMAIL_HOST = os.environ.get("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("DJANGO_EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("DJANGO_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("DJANGO_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "BDT Platform <no-reply@localhost>")

# --- Static files, storage -----------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", STATE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "analysis.staticfiles.PlotlyFinder",  # vendor/plotly/plotly.min.js from the installed plotly package
]
MEDIA_ROOT = Path(os.environ.get("BDT_MEDIA_ROOT", STATE_DIR / "media"))
MEDIA_URL = "/media/"
BDT_CACHE_DIR = Path(os.environ.get("BDT_CACHE_DIR", STATE_DIR / "cache"))
# Bytes the worker-local cache of version and result files may hold (least recently used go first); 0 = unbounded.
BDT_CACHE_MAX_BYTES = int(os.environ.get("BDT_CACHE_MAX_BYTES", "0"))
BDT_WORK_DIR = Path(os.environ.get("BDT_WORK_DIR", STATE_DIR / "work"))
# Directory of pg_dump/pg_restore for platform_backup/platform_restore (default: found by the server's version).
BDT_PG_BIN_DIR = os.environ.get("BDT_PG_BIN_DIR") or None
# Secret of the participants' record keys (cell-key method, access.disclosure); empty = derived from SECRET_KEY.
# Changing it re-draws the noise of every count: keep it stable (docs/operations.md).
BDT_DISCLOSURE_SECRET = os.environ.get("BDT_DISCLOSURE_SECRET", "")
# Connectors (docs/connectors.md): Fernet keys of connection secrets, newest first (rotation), and the networks
# connections may reach: "public" (globally routable addresses) and/or CIDRs. The platform's own services are
# always refused.
BDT_CONNECTOR_KEYS = env_list("BDT_CONNECTOR_KEYS")
BDT_CONNECTOR_NETWORKS = env_list("BDT_CONNECTOR_NETWORKS", "public")
# Local disk (MEDIA_ROOT) unless BDT_S3_BUCKET names an S3-compatible bucket (bdt_project/settings/object_storage.py).
STORAGES: dict[str, dict[str, Any]] = {
    "default": default_storage_backend(),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- I18N ----------------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Security defaults (production tightens further) ---------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

NINJA_PAGINATION_MAX_PER_PAGE_SIZE = 1000

# --- Monitoring and logs (docs/operations.md, "Monitoring and capacity planning") ------------------------------
# GET /metrics on the platform host answers only with `Authorization: Bearer <BDT_METRICS_TOKEN>` (404 when unset).
METRICS_TOKEN = os.environ.get("BDT_METRICS_TOKEN", "")
# Prometheus multiprocess directory shared by every web and worker process of this host (emptied at stack start).
METRICS_DIR = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or STATE_DIR / "metrics")

# One line per log record; `json` (default) or `plain`. Both carry the request id, tenant and user (or task).
LOG_FORMAT = os.environ.get("DJANGO_LOG_FORMAT", "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}")
LOG_FIELDS = ["asctime", "levelname", "name", "message", "request_id", "tenant", "user", "task"]
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "core.monitoring.logs.LogContextFilter"}},
    "formatters": {
        "json": {"()": "pythonjsonlogger.json.JsonFormatter", "fmt": LOG_FIELDS},
        # request id (or task) tenant user
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s%(task)s %(tenant)s %(user)s] %(message)s"
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# Celery workers log through the same handlers (JSON lines with the task and its tenant).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
