"""Settings for a developer laptop and ``make run``."""

from __future__ import annotations

import os

from bdt_project.settings.base import *
from bdt_project.settings.base import LOGGING, STATE_DIR, STATIC_ROOT, derived_fernet_key, env_bool, env_list
from bdt_project.settings.object_storage import default_storage_backend

# `make run` serves like production: gunicorn, DEBUG off, static files collected into STATIC_ROOT (only changed files
# are copied, so a restart is quick; uncompressed, which costs nothing on a laptop) and served by WhiteNoise.
# `make dev` sets DJANGO_DEBUG=1: Django's development server, static files straight from the apps.
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "local-development-only-not-secret"
ALLOWED_HOSTS = ["*"]
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(STATE_DIR / "mail")
STORAGES = {
    "default": default_storage_backend(),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

STATIC_ROOT.mkdir(parents=True, exist_ok=True)
if DEBUG:
    WHITENOISE_USE_FINDERS = True
    WHITENOISE_AUTOREFRESH = True

# Readable lines in the terminal of `make run` (request id, tenant and user are still there); DJANGO_LOG_FORMAT=json
# gives the production format.
LOGGING["handlers"]["console"]["formatter"] = "json" if os.environ.get("DJANGO_LOG_FORMAT") == "json" else "plain"

# Connectors: `make run` and the tests may reach a database on this machine (loopback); without a configured key,
# connection secrets are encrypted with one derived from SECRET_KEY.
BDT_CONNECTOR_NETWORKS = env_list("BDT_CONNECTOR_NETWORKS", "public,127.0.0.0/8,::1/128")
BDT_CONNECTOR_KEYS = env_list("BDT_CONNECTOR_KEYS") or [derived_fernet_key(SECRET_KEY)]
