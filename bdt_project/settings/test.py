"""Settings for the test suite: real PostgreSQL and Redis, isolated Redis database, fast hashing."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from bdt_project.settings.base import *
from bdt_project.settings.base import BASE_DIR, CACHES, LOGGING, REDIS_URL, STATIC_ROOT, derived_fernet_key, env_list
from bdt_project.settings.object_storage import default_storage_backend

# Storage of this test run, per database name, so concurrent suites on one machine never share files
# (BDT_TEST_MEDIA_ROOT: the live-stack tests put it on a small file system of their own).
_RUN_DIR = str(DATABASES["default"]["NAME"])
MEDIA_ROOT = Path(os.environ.get("BDT_TEST_MEDIA_ROOT") or BASE_DIR / ".bdt" / "test-media" / _RUN_DIR)

# Scratch, the node's cache (version files, participant index stores) and the logs of the processes the tests
# start, per database name as well: two suites of one checkout (`make test` runs shards side by side) have databases
# of their own whose workspaces, studies and versions have the same names and ids.
BDT_WORK_DIR = Path(os.environ.get("BDT_WORK_DIR") or BASE_DIR / ".bdt" / "test-work" / _RUN_DIR)
BDT_CACHE_DIR = Path(os.environ.get("BDT_CACHE_DIR") or BASE_DIR / ".bdt" / "test-cache" / _RUN_DIR)
TEST_LOG_DIR = BASE_DIR / ".bdt" / "test-logs" / _RUN_DIR

# Metrics of this test run (the suite's process, its Celery workers and servers share them), per database name.
# The suite's own process starts from an empty directory; the processes it starts inherit the variable. Only a
# test session empties it: other processes reading these settings (mypy's Django plugin, manage.py) must not take
# the directory from under a running suite's worker, whose samples would then never reach /metrics.
METRICS_DIR = BASE_DIR / ".bdt" / "test-metrics" / _RUN_DIR
if os.environ.get("PROMETHEUS_MULTIPROC_DIR") != str(METRICS_DIR):
    if "pytest" in sys.modules:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
METRICS_TOKEN = os.environ.get("BDT_METRICS_TOKEN", "test-metrics-token-0123456789abcdef")

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
    "default": default_storage_backend(),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING["root"]["level"] = os.environ.get("DJANGO_LOG_LEVEL", "WARNING")

STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Connectors: `make run` and the tests may reach a database on this machine (loopback); without a configured key,
# connection secrets are encrypted with one derived from SECRET_KEY.
BDT_CONNECTOR_NETWORKS = env_list("BDT_CONNECTOR_NETWORKS", "public,127.0.0.0/8,::1/128")
BDT_CONNECTOR_KEYS = env_list("BDT_CONNECTOR_KEYS") or [derived_fernet_key(SECRET_KEY)]
