"""Settings for the test suite: real PostgreSQL and Redis, isolated Redis database, fast hashing."""

from __future__ import annotations

import os
from pathlib import Path

from bdt_project.settings.base import *
from bdt_project.settings.base import BASE_DIR, CACHES, REDIS_URL, STATIC_ROOT

# Storage of this test run, per database name, so concurrent suites on one machine never share files
# (BDT_TEST_MEDIA_ROOT: the live-stack tests put it on a small file system of their own).
MEDIA_ROOT = Path(
    os.environ.get("BDT_TEST_MEDIA_ROOT") or BASE_DIR / ".bdt" / "test-media" / str(DATABASES["default"]["NAME"])
)

# A Celery worker started by the test suite uses the test database directly.
if os.environ.get("BDT_TEST_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["BDT_TEST_DB_NAME"]

SECRET_KEY = "test-only-secret-key-not-for-production-use-0123456789"
DEBUG = False
ALLOWED_HOSTS = ["*"]
PUBLIC_DOMAIN = "platform.test"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Tests use their own Redis database so a running `make run` is never disturbed.
TEST_REDIS_URL = os.environ.get("BDT_TEST_REDIS_URL", REDIS_URL.rsplit("/", 1)[0] + "/15")
CACHES["default"]["LOCATION"] = TEST_REDIS_URL
CELERY_BROKER_URL = TEST_REDIS_URL
CELERY_RESULT_BACKEND = TEST_REDIS_URL
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
