"""WSGI entry point (gunicorn in production)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bdt_project.settings.local")
application = get_wsgi_application()

from core.budgets import process_role_set, web_database_sessions_limit  # noqa: E402 - needs Django set up

process_role_set("web")
web_database_sessions_limit()
