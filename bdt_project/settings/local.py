"""Settings for a developer laptop and ``make run``."""

from __future__ import annotations

import os

from bdt_project.settings.base import *
from bdt_project.settings.base import LOGGING, STATE_DIR, STATIC_ROOT

DEBUG = os.environ.get("DJANGO_DEBUG", "1") not in {"0", "false", "False"}
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "local-development-only-not-secret"
ALLOWED_HOSTS = ["*"]
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(STATE_DIR / "mail")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Readable lines in the terminal of `make run` (request id, tenant and user are still there); DJANGO_LOG_FORMAT=json
# gives the production format.
LOGGING["handlers"]["console"]["formatter"] = "json" if os.environ.get("DJANGO_LOG_FORMAT") == "json" else "plain"
